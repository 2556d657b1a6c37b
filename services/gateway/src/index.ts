/**
 * The diffda gateway: the REST API (fastify), the job store, the artifact store and the orchestrator that
 * drives the compute services. `buildApp` makes the app without listening (tests `inject()` into it);
 * `startGateway` assembles a process from the environment; main.ts runs it. See docs/api.md and
 * docs/jobs.md.
 */
export { API_VERSION, type AppDeps, buildApp } from "./app.js";
export { ArtifactStore } from "./artifact-store.js";
export type { BlobInfo, BlobStore, DownloadLink, StoredBlob } from "./blob-store.js";
export { sha256Hex } from "./blob-store.js";
export {
  GATEWAY_ENV,
  type GatewayEnv,
  isLoopbackHost,
  loadGatewayEnv,
  resolveAuthMode,
  restLimitsFromEnv,
} from "./config.js";
export {
  type BuiltinRequest,
  type DatasetImages,
  DatasetService,
  type DatasetSpec,
  type UploadLimits,
} from "./datasets/dataset-service.js";
export {
  API_ERRORS,
  ApiError,
  type ApiErrorCode,
  type FieldIssue,
  PROBLEM_CONTENT_TYPE,
  type Problem,
  toApiError,
  toProblem,
} from "./errors.js";
export { type JobRequest, type JobSpec, type ResolvedMethod, resolveJobSpec } from "./job-spec.js";
export { openBlobStore } from "./open-blob-store.js";
export { buildOpenApi } from "./openapi.js";
export { type ComputeClients, createComputeClients, generationPool } from "./orchestrator/compute-clients.js";
export { createTaskHandlers, type JobResult, summarize } from "./orchestrator/handlers/index.js";
export { createOrchestrator, type Orchestrator } from "./orchestrator/orchestrator.js";
export { canonicalJson, planJob } from "./orchestrator/planner.js";
export { createGatewayMetrics, type GatewayMetrics } from "./plugins/metrics.js";
export {
  BASELINE_IDS,
  DIFFDA_IDS,
  type FinetuningSpec,
  type GenerationSpec,
  type MethodPreset,
  PRESET_IDS,
  PRESETS,
  presetById,
  type UtilizationSpec,
} from "./presets.js";
export type { RestLimits } from "./routes/context.js";
export { type RunningGateway, startGateway } from "./server.js";
