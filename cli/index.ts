/**
 * diffda's command line and embedded runner. `diffda up` starts the gateway and the three compute
 * services on loopback; the other commands talk to a gateway over its REST API only. See README.md
 * (Quick start) and docs/api.md for the API they use.
 */
export { HELP, runCli } from "./cli.js";
export {
  cancelJob,
  createBuiltinDataset,
  downloadArtifact,
  getDataset,
  getJob,
  isReady,
  listArtifacts,
  listJobs,
  listMethods,
  SYNTHETIC_FORMATS,
  type SyntheticFormat,
  submitJob,
  syntheticSet,
  syntheticZip,
  uploadDatasetArchive,
  uploadDatasetZip,
} from "./client/api.js";
export {
  type DatasetArgs,
  type DatasetSource,
  registerDataset,
  resolveDatasetSource,
  zipImageFolder,
} from "./client/dataset-source.js";
export {
  FINAL_EVENT_TYPES,
  type FollowOptions,
  type FollowOutcome,
  followJobEvents,
} from "./client/events.js";
export { type JobFile, parseJobFile, readJobFile } from "./client/job-file.js";
export { applyOverrides, type QuickOverrides } from "./client/overrides.js";
export {
  ApiError,
  createRestClient,
  type RestClient,
  type RestClientOptions,
  type RestRequest,
} from "./client/rest-client.js";
export { createSseParser, type SseFrame, type SseParser } from "./client/sse.js";
export type * from "./client/types.js";
export { writeStoredZip, type ZipEntry } from "./client/zip.js";
export { DEMO_SPEC, demoCommand } from "./commands/demo.js";
export { type FetchPart, fetchJob } from "./commands/fetch.js";
export { type FollowedJob, followJob } from "./commands/follow.js";
export { buildSubmission, type SubmitArgs, submitRun } from "./commands/submit.js";
export { type ManagedProcess, type ProcessSpec, startProcess } from "./embedded/child-process.js";
export { grpcServing, httpReady, waitUntilReady } from "./embedded/health.js";
export { freePort, freePorts, isListening } from "./embedded/ports.js";
export { type RunningStack, type StackUnit, startStack } from "./embedded/stack.js";
export {
  COMPUTE_SERVICES,
  DEFAULT_BASE_MODEL,
  DEFAULT_INSTRUCT_MODEL,
  type EmbeddedOptions,
  type EmbeddedStack,
  embeddedUnits,
  REPO_ROOT,
  startEmbedded,
} from "./embedded.js";
export { formatStageLine, renderBar } from "./progress/bar.js";
export { createJobProgress, type JobProgress, planStages, type StageView } from "./progress/job-progress.js";
export { createRenderer, type ProgressRenderer } from "./progress/renderer.js";
export { type ReportOptions, writeReport } from "./report/report.js";
export { accuracyChart } from "./report/svg-chart.js";
export { formatMeanStd } from "./results/format.js";
export { meanStd, pairedGain } from "./results/stats.js";
export { formatResultsTable, resultsData } from "./results/table.js";
