import { access } from "node:fs/promises";
import {
  createLimiter,
  loadModelRegistry,
  type ServiceHost,
  type ServiceModule,
} from "../../../shared/service/index.js";
import type { GENERATION_ENV } from "./config.js";
import { findClipFolder } from "./engine/clip.js";
import { LocalEngine } from "./engine/local.js";
import type { GenerationEngine } from "./engine/types.js";
import { WorkerEngine } from "./engine/worker-engine.js";
import { GenerationService, generationHandlers } from "./handler.js";
import { createGenerationMetrics } from "./metrics.js";

/** Creates the configured engine: in a worker thread (default) or in this thread. */
export function createEngine(config: ServiceHost<typeof GENERATION_ENV>["config"]): GenerationEngine {
  const options = { adapterCacheSize: config.GENERATION_ADAPTER_CACHE_SIZE, threads: config.ORT_THREADS };
  if (config.GENERATION_ENGINE === "worker") return new WorkerEngine(options);
  return new LocalEngine({
    adapterCacheSize: options.adapterCacheSize,
    sessionOptions: options.threads ? { intraOpNumThreads: options.threads } : undefined,
  });
}

/**
 * Wires the generation service into a host: the model registry of MODEL_DIR, the engine, metrics and the
 * GenerateShard handler; `load` preloads every model, after which health turns SERVING.
 */
export async function setupGeneration(host: ServiceHost<typeof GENERATION_ENV>): Promise<ServiceModule> {
  const { config } = host;
  await access(config.MODEL_DIR).catch(() => {
    throw new Error(`MODEL_DIR ${config.MODEL_DIR} does not exist`);
  });
  const registry = await loadModelRegistry(config.MODEL_DIR, config.MODEL_ID);
  const engine = createEngine(config);
  host.server.register(
    GenerationService,
    generationHandlers({
      engine,
      registry,
      metrics: createGenerationMetrics(host.metrics),
      logger: host.logger,
      batchSize: config.GENERATION_BATCH_SIZE,
      limiter: createLimiter(config.GENERATION_MAX_CONCURRENT_SHARDS),
      clipFolder: findClipFolder,
      limits: {
        maxShardSamples: config.GENERATION_MAX_SHARD_SAMPLES,
        maxSources: config.GENERATION_MAX_SOURCES,
        maxSteps: config.GENERATION_MAX_STEPS,
        maxSide: config.GENERATION_MAX_SIDE,
      },
    }),
  );
  host.logger.info(
    { models: registry.models.map((m) => m.id), engine: config.GENERATION_ENGINE },
    "models configured",
  );
  return {
    load: async () => {
      if (config.GENERATION_PRELOAD) await engine.preload(registry.models);
    },
    close: () => engine.close(),
  };
}
