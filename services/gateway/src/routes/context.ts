/** What route plugins share: the store, the artifact store, services, metrics and limits. */
import type { BlobStore } from "../blob-store.js";
import type { DatasetService, UploadLimits } from "../datasets/dataset-service.js";
import type { ArtifactCollector } from "../lifecycle/collector.js";
import type { ModelCatalog } from "../models/catalog.js";
import type { GatewayMetrics } from "../plugins/metrics.js";
import type { AbortedTask, JobStore } from "../store/index.js";
import type { DestinationPolicy } from "../webhooks/destination.js";

/** The orchestrator as the REST layer sees it: cancelled tasks running here are aborted at once. */
export interface OrchestratorFacade {
  abort(tasks: readonly AbortedTask[]): void;
}

/** Limits and intervals of the REST layer (from configuration). */
export interface RestLimits {
  /** Largest JSON body of ordinary routes. */
  jsonBodyBytes: number;
  /** Largest dataset upload body (zip or JSON with base64 images). */
  uploadBodyBytes: number;
  /** Largest adapter upload body (one safetensors file). */
  adapterBodyBytes: number;
  upload: UploadLimits;
  /** Default images per generation shard. */
  shardSize: number;
  /** Most synthetic images a job may ask for. */
  maxSyntheticImages: number;
  /** Most (method, seed) runs in one job. */
  maxRuns: number;
  /** How often an event stream polls the store. */
  ssePollMs: number;
  /** Idle time before an event stream sends a keep-alive comment. */
  sseHeartbeatMs: number;
}

/** Shared by every route plugin. */
export interface AppContext {
  store: JobStore;
  artifacts: BlobStore;
  datasets: DatasetService;
  metrics: GatewayMetrics;
  orchestrator: OrchestratorFacade;
  limits: RestLimits;
  /** Frees the blobs of deleted resources. */
  collector: ArtifactCollector;
  /** The served models (asked of the generation replicas); undefined without replicas. */
  models: ModelCatalog | undefined;
  /** Set while the process drains: /readyz answers 503. */
  lifecycle: { draining: boolean };
  /** Which webhook destinations jobs may name. */
  webhookDestinations: DestinationPolicy;
}
