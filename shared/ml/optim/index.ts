/** Optimizers and learning-rate schedules; updates run as graph ops in the same run as the backward pass. */
export { type AdamWConfig, adamw } from "./adamw.js";
export { clipByGlobalNorm, globalNorm } from "./clip.js";
export type { Optimizer, SharedScalars } from "./optimizer.js";
export { constantSchedule, type Schedule, type WarmupCosineOptions, warmupCosine } from "./schedule.js";
export { type SgdConfig, sgd } from "./sgd.js";
export {
  buildTrainGraph,
  type FlatSlot,
  nextName,
  type TrainGraph,
  type TrainGraphOptions,
} from "./train-graph.js";
