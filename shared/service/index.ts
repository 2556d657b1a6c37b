/**
 * The host every diffda service process runs on: configuration from the environment, logs, metrics with
 * `/metrics`, a gRPC server with explicit limits and health, SIGTERM drain; plus the small pieces the
 * services share (work metrics, phase timing, CPU accounting per call, a concurrency limiter, an event channel, worker
 * threads, the model registry). Request/response helpers live in `./wire/`.
 */
export {
  connectionAgeOptions,
  type HostSchema,
  loadServiceConfig,
  messageLimits,
  type ServiceConfig,
  type ServiceSchema,
} from "./config.js";
export { type CpuMeter, type CpuReading, type CpuSpan, createCpuMeter, processCpu } from "./cpu-meter.js";
export { createEventChannel, type EventChannel, streamWork } from "./events.js";
export {
  type RunningService,
  runService,
  type ServiceHost,
  type ServiceModule,
  type ServiceOptions,
} from "./host.js";
export { createLimiter, type Limiter } from "./limiter.js";
export { cardSummary, describeModel, folderDigest, type ModelDescription } from "./model-card.js";
export { loadModelRegistry, MODEL_ID, type ModelEntry, type ModelRegistry, modelEnv } from "./models.js";
export { createPhaseTimer, type PhaseTimer } from "./phases.js";
export {
  createWorkMetrics,
  outcomeOf,
  startWork,
  type WorkMetrics,
  type WorkMetricsOptions,
  type WorkOutcome,
  type WorkRun,
} from "./work.js";
export { startModuleWorker } from "./worker-thread.js";
