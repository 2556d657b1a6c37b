import { access } from "node:fs/promises";
import { selectRuntime } from "../../../shared/service/execution-provider.js";
import {
  createLimiter,
  loadModelRegistry,
  type ServiceHost,
  type ServiceModule,
} from "../../../shared/service/index.js";
import type { FINETUNE_ENV } from "./config.js";
import { FinetuneService, finetuneHandlers } from "./handlers.js";
import { createFinetuneMetrics } from "./metrics.js";

/**
 * Wires the finetune service into a host: the model registry of MODEL_DIR (ids requests name), the
 * execution providers of EXECUTION_PROVIDER (every session of a run opens on them) and the handlers. Models
 * are read per run (shared/finetune decodes the folder's graphs into a training graph), so `load` only
 * checks that every folder is readable.
 */
export async function setupFinetune(host: ServiceHost<typeof FINETUNE_ENV>): Promise<ServiceModule> {
  const { config } = host;
  const registry = await loadModelRegistry(config.MODEL_DIR, config.MODEL_ID);
  const runtime = await selectRuntime(config, host.logger);
  host.server.register(
    FinetuneService,
    finetuneHandlers({
      registry,
      limits: {
        maxImages: config.FINETUNE_MAX_IMAGES,
        maxSteps: config.FINETUNE_MAX_STEPS,
        maxResolution: config.FINETUNE_MAX_RESOLUTION,
      },
      metrics: createFinetuneMetrics(host.metrics),
      logger: host.logger,
      limiter: createLimiter(config.FINETUNE_MAX_CONCURRENT_RUNS),
      ...runtime,
    }),
  );
  host.logger.info({ models: registry.models.map((m) => m.id) }, "models configured");
  return {
    load: async () => {
      for (const m of registry.models) await access(m.dir);
    },
  };
}
