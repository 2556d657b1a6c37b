import { int } from "../../../shared/config/index.js";
import { runtimeEnv } from "../../../shared/service/execution-provider.js";
import { modelEnv } from "../../../shared/service/index.js";

/** Default ports of the finetune service. */
export const FINETUNE_PORTS = Object.freeze({ grpcPort: 50051, metricsPort: 9464 });

/** The finetune service's own variables (besides the host's: logging, ports, limits, drain grace). */
export const FINETUNE_ENV = {
  ...modelEnv(),
  FINETUNE_MAX_IMAGES: int({
    min: 1,
    max: 1_000_000,
    default: 50_000,
    description: "most training images in a run",
  }),
  FINETUNE_MAX_STEPS: int({
    min: 1,
    max: 10_000_000,
    default: 100_000,
    description: "most optimizer steps of a stage",
  }),
  FINETUNE_MAX_RESOLUTION: int({
    min: 8,
    max: 4096,
    default: 1024,
    description: "largest training resolution",
  }),
  FINETUNE_MAX_CONCURRENT_RUNS: int({
    min: 1,
    max: 64,
    default: 1,
    description: "fine-tuning runs at once (each uses every core); later ones wait",
  }),
  ...runtimeEnv(),
} as const;

/** Limits a request must stay within. */
export interface FinetuneLimits {
  readonly maxImages: number;
  readonly maxSteps: number;
  readonly maxResolution: number;
}
