import { bool, int, oneOf } from "../../../shared/config/index.js";
import { runtimeEnv } from "../../../shared/service/execution-provider.js";
import { modelEnv } from "../../../shared/service/index.js";

/** Default ports of the generation service. */
export const GENERATION_PORTS = Object.freeze({ grpcPort: 50052, metricsPort: 9465 });

/** The generation service's own variables (besides the host's: logging, ports, limits, drain grace). */
export const GENERATION_ENV = {
  ...modelEnv(),
  GENERATION_BATCH_SIZE: int({ min: 1, max: 256, default: 8, description: "samples per engine batch" }),
  GENERATION_MAX_SHARD_SAMPLES: int({
    min: 1,
    max: 1_000_000,
    default: 4096,
    description: "most samples in one shard",
  }),
  GENERATION_MAX_SOURCES: int({
    min: 1,
    max: 1_000_000,
    default: 100_000,
    description: "most source images in a request",
  }),
  GENERATION_MAX_STEPS: int({
    min: 1,
    max: 10_000,
    default: 1000,
    description: "most denoising or inversion steps",
  }),
  GENERATION_MAX_SIDE: int({
    min: 8,
    max: 16_384,
    default: 2048,
    description: "largest output side in pixels",
  }),
  GENERATION_MAX_CONCURRENT_SHARDS: int({
    min: 1,
    max: 64,
    default: 2,
    description: "shards generating at once; later ones wait (the engine is shared)",
  }),
  GENERATION_ADAPTER_CACHE_SIZE: int({
    min: 0,
    max: 1024,
    default: 4,
    description: "adapted models (base + adapters) kept after their last shard, by adapter hash",
  }),
  GENERATION_ENGINE: oneOf(["worker", "in-process"], {
    default: "worker",
    description: "run onnxruntime in a worker thread (keeps the event loop free) or on the main thread",
  }),
  ...runtimeEnv(),
  GENERATION_PRELOAD: bool({
    default: true,
    description: "load every model of MODEL_DIR before turning SERVING",
  }),
} as const;
