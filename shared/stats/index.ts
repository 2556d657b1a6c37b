/** Summary statistics of results: mean ± std over runs and paired bootstrap intervals of differences. */
export { type MeanStd, meanStd } from "./mean-std.js";
export { type BootstrapOptions, type PairedInterval, pairedBootstrap } from "./paired-bootstrap.js";
