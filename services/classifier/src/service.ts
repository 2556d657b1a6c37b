import { selectRuntime } from "../../../shared/service/execution-provider.js";
import { createLimiter, type ServiceHost, type ServiceModule } from "../../../shared/service/index.js";
import type { CLASSIFIER_ENV } from "./config.js";
import { ClassifierService, classifierHandlers } from "./handlers.js";
import { createClassifierMetrics } from "./metrics.js";

/**
 * Wires the classifier service into a host, with the execution providers of EXECUTION_PROVIDER (training
 * and evaluation sessions open on them). It loads no model (networks are built per request from the
 * architecture registry), so it turns SERVING as soon as it listens.
 */
export async function setupClassifier(host: ServiceHost<typeof CLASSIFIER_ENV>): Promise<ServiceModule> {
  const { config } = host;
  const runtime = await selectRuntime(config, host.logger);
  host.server.register(
    ClassifierService,
    classifierHandlers({
      limits: {
        maxImages: config.CLASSIFIER_MAX_IMAGES,
        maxImageSize: config.CLASSIFIER_MAX_IMAGE_SIZE,
        maxEpochs: config.CLASSIFIER_MAX_EPOCHS,
        defaultEpochs: config.CLASSIFIER_DEFAULT_EPOCHS,
      },
      metrics: createClassifierMetrics(host.metrics),
      logger: host.logger,
      limiter: createLimiter(config.CLASSIFIER_MAX_CONCURRENT_RUNS),
      ...runtime,
    }),
  );
  return {};
}
