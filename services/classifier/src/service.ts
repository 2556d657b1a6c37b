import { availableParallelism } from "node:os";
import { RunnerPool } from "../../../shared/ml/runtime/index.js";
import { selectRuntime } from "../../../shared/service/execution-provider.js";
import { createLimiter, type ServiceHost, type ServiceModule } from "../../../shared/service/index.js";
import type { CLASSIFIER_ENV } from "./config.js";
import { DecodedImageCache } from "./decoded-images.js";
import { ClassifierService, classifierHandlers } from "./handlers.js";
import { createClassifierMetrics } from "./metrics.js";

/**
 * Wires the classifier service into a host, with the execution providers of EXECUTION_PROVIDER (training
 * and evaluation sessions open on them, and stay open in a pool for the next run of the same shape). It loads no model (networks are built per request from the
 * architecture registry), so it turns SERVING as soon as it listens.
 */
export async function setupClassifier(host: ServiceHost<typeof CLASSIFIER_ENV>): Promise<ServiceModule> {
  const { config } = host;
  const runtime = await selectRuntime(config, host.logger);
  const runs = config.CLASSIFIER_MAX_CONCURRENT_RUNS;
  // Runs side by side share the cores: a few-shot run's small batches use one thread better than two
  // (about 50 against 73 CPU ms per step on a 2-core machine), so by default each run gets its share.
  const threads = runtime.threads ?? Math.max(1, Math.floor(availableParallelism() / runs));
  const metrics = createClassifierMetrics(host.metrics);
  const pool = new RunnerPool({
    maxIdle: 2 * runs,
    idleMs: config.CLASSIFIER_SESSION_IDLE_MS,
    onOpen: (seconds) => metrics.phases.add("session_open", seconds),
  });
  host.server.register(
    ClassifierService,
    classifierHandlers({
      limits: {
        maxImages: config.CLASSIFIER_MAX_IMAGES,
        maxImageSize: config.CLASSIFIER_MAX_IMAGE_SIZE,
        maxEpochs: config.CLASSIFIER_MAX_EPOCHS,
        defaultEpochs: config.CLASSIFIER_DEFAULT_EPOCHS,
      },
      metrics,
      logger: host.logger,
      limiter: createLimiter(runs),
      pool,
      decoded: new DecodedImageCache(config.CLASSIFIER_DECODED_CACHE_MB * 2 ** 20),
      ...runtime,
      threads,
    }),
  );
  return { close: () => pool.close() };
}
