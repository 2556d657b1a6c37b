import type { NoiseSchedule, PredictionType } from "../diffusion/schedulers/index.js";
import type { ClipTokenizer } from "../diffusion/tokenizer/index.js";
import { DataType, type Tensor } from "../ml/onnx/index.js";
import { Rng } from "../random/index.js";
import { TRAINING_INPUTS } from "./compose.js";
import type { TrainingExamples } from "./examples.js";
import { fillTemplate } from "./templates.js";

/** Everything that decides the batches of a run. */
export interface BatchPlan {
  readonly seed: number;
  readonly batchSize: number;
  readonly examples: TrainingExamples;
  /** What stands for class k in the prompts: its placeholder token or its name. */
  readonly classWords: readonly string[];
  readonly templates: readonly string[];
  readonly tokenizer: ClipTokenizer;
  /** Applied to each prompt before tokenization (multi-vector tokens expand here). */
  readonly promptTransform?: (prompt: string) => string;
  readonly schedule: NoiseSchedule;
  readonly prediction: PredictionType;
  /** Probability of using an image's mirror image (needs flipped examples). */
  readonly flipProbability: number;
  /** Element types of the token-id and timestep inputs, and whether the timestep is one scalar per batch. */
  readonly idsType: DataType;
  readonly timestepType: DataType;
  readonly scalarTimestep: boolean;
}

/** One training batch: the graph's feeds and what they were drawn from. */
export interface TrainingBatch {
  readonly feeds: Record<string, Tensor>;
  readonly prompts: string[];
  readonly timesteps: number[];
  readonly images: number[];
}

/** Random streams: even ones per step, odd ones per epoch (the shuffle). */
const stepStream = (step: number) => 2 * step;
const epochStream = (epoch: number) => 2 * epoch + 1;

const permutations = new WeakMap<BatchPlan, Map<number, number[]>>();

function epochOrder(plan: BatchPlan, epoch: number): number[] {
  let cache = permutations.get(plan);
  if (!cache) permutations.set(plan, (cache = new Map()));
  let order = cache.get(epoch);
  if (!order) {
    order = new Rng(plan.seed, epochStream(epoch)).shuffle(
      Array.from({ length: plan.examples.count }, (_, i) => i),
    );
    cache.clear();
    cache.set(epoch, order);
  }
  return order;
}

function intTensor(dtype: DataType, dims: number[], values: ArrayLike<number>): Tensor {
  if (dtype === DataType.INT64) return { dtype, dims, data: BigInt64Array.from(values as number[], BigInt) };
  if (dtype === DataType.INT32) return { dtype, dims, data: Int32Array.from(values as number[]) };
  if (dtype === DataType.FLOAT) return { dtype, dims, data: Float32Array.from(values as number[]) };
  if (dtype === DataType.DOUBLE) return { dtype, dims, data: Float64Array.from(values as number[]) };
  throw new Error(`unsupported input element type ${dtype}`);
}

/**
 * The batch of 1-based `step`: images in epoch order (a seeded shuffle per epoch), and per sample a flip, a
 * prompt template, a timestep uniform over the training schedule and gaussian noise, all drawn from a stream
 * of (seed, step) alone — so any step's batch can be rebuilt, which makes resuming exact. Noisy latents
 * x_t = √ᾱ·x₀ + √(1−ᾱ)·ε and the target (ε, v or x₀ by the scheduler's prediction type) are computed here.
 */
export function trainingBatch(plan: BatchPlan, step: number): TrainingBatch {
  const { batchSize: B, examples } = plan;
  const rng = new Rng(plan.seed, stepStream(step));
  const size = examples.channels * examples.height * examples.width;
  const x0 = new Float32Array(B * size);
  const noise = new Float32Array(B * size);
  const prompts: string[] = [];
  const timesteps: number[] = [];
  const images: number[] = [];
  const T = plan.schedule.length;
  const shared = plan.scalarTimestep ? rng.nextInt(T) : -1;
  for (let k = 0; k < B; k++) {
    const position = (step - 1) * B + k;
    const image = epochOrder(plan, Math.floor(position / examples.count))[position % examples.count];
    const flip = plan.flipProbability > 0 && examples.flipped && rng.nextFloat() < plan.flipProbability;
    const row = flip ? examples.count + image : image;
    x0.set(examples.latents.subarray(row * size, (row + 1) * size), k * size);
    const template = plan.templates[rng.nextInt(plan.templates.length)];
    prompts.push(fillTemplate(template, plan.classWords[examples.labels[image]]));
    timesteps.push(plan.scalarTimestep ? shared : rng.nextInt(T));
    images.push(image);
    rng.fillNormal(noise.subarray(k * size, (k + 1) * size));
  }
  const noisy = plan.schedule.addNoise(x0, noise, timesteps);
  const target =
    plan.prediction === "epsilon"
      ? noise
      : plan.prediction === "v_prediction"
        ? plan.schedule.velocity(x0, noise, timesteps)
        : x0;
  const encoding = plan.tokenizer.encodeBatch(
    prompts.map((p) => (plan.promptTransform ? plan.promptTransform(p) : p)),
  );
  const latentDims = [B, examples.channels, examples.height, examples.width];
  return {
    feeds: {
      [TRAINING_INPUTS.ids]: intTensor(plan.idsType, [B, encoding.sequenceLength], encoding.inputIds),
      [TRAINING_INPUTS.sample]: { dtype: DataType.FLOAT, dims: latentDims, data: noisy },
      [TRAINING_INPUTS.timestep]: plan.scalarTimestep
        ? intTensor(plan.timestepType, [], [shared])
        : intTensor(plan.timestepType, [B], timesteps),
      [TRAINING_INPUTS.target]: { dtype: DataType.FLOAT, dims: latentDims, data: target },
    },
    prompts,
    timesteps,
    images,
  };
}
