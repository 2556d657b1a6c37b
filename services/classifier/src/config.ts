import { RECIPE } from "../../../shared/classifier/recipe.js";
import { int } from "../../../shared/config/index.js";
import { runtimeEnv } from "../../../shared/service/execution-provider.js";

/** Default ports of the classifier service. */
export const CLASSIFIER_PORTS = Object.freeze({ grpcPort: 50053, metricsPort: 9466 });

/** The classifier service's own variables (besides the host's: logging, ports, limits, drain grace). */
export const CLASSIFIER_ENV = {
  CLASSIFIER_MAX_IMAGES: int({
    min: 1,
    max: 10_000_000,
    default: 500_000,
    description: "most images in one set",
  }),
  CLASSIFIER_MAX_IMAGE_SIZE: int({
    min: 8,
    max: 1024,
    default: 256,
    description: "largest training image side",
  }),
  CLASSIFIER_MAX_EPOCHS: int({
    min: 1,
    max: 100_000,
    default: RECIPE.maxEpochs,
    description: "most training epochs, a request's or the step budget's",
  }),
  CLASSIFIER_DEFAULT_EPOCHS: int({
    min: 1,
    max: 100_000,
    default: RECIPE.defaultEpochs,
    description: "fewest epochs when a request sets none (more where the set needs them for 300 steps)",
  }),
  CLASSIFIER_MAX_CONCURRENT_RUNS: int({
    min: 1,
    max: 64,
    default: 2,
    description:
      "trainings and evaluations running at once, each on its share of the cores (ORT_THREADS unset); later ones wait",
  }),
  CLASSIFIER_SESSION_IDLE_MS: int({
    min: 0,
    default: 60_000,
    description: "an open session unused this long is closed (its memory arena goes with it)",
  }),
  CLASSIFIER_DECODED_CACHE_MB: int({
    min: 0,
    max: 1_000_000,
    default: 256,
    description: "decoded image lists kept for the next run or evaluation that sends the same images (MiB)",
  }),
  ...runtimeEnv(),
} as const;

/** Limits a request must stay within. */
export interface ClassifierLimits {
  readonly maxImages: number;
  readonly maxImageSize: number;
  readonly maxEpochs: number;
  readonly defaultEpochs: number;
}
