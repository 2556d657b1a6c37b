/**
 * The classifier's default recipe, sized to the data: the batch size and epochs a run takes when its
 * request leaves them unset. A fixed batch of 128 for 30 epochs is one optimizer step per epoch on a
 * 5-shot, 5-class set (25 images), 30 steps in all: too few to fit even the training images. Sizing the
 * batch to the set and the epochs to a step budget gives every set enough updates; on large sets it
 * changes nothing (batch 128, the configured epochs).
 */
import type { UtilizationStrategy } from "../data/index.js";

/** Why these numbers. */
export const RECIPE = Object.freeze({
  /** Steps an epoch should take: the batch is about 1/8 of the epoch's images. */
  stepsPerEpoch: 8,
  /** Smallest default batch: below 4 the per-step overhead dominates and GroupNorm sees 1–3 images. */
  minBatchSize: 4,
  /** Largest default batch: the former fixed default, already ≥ 8 steps per epoch from 1024 images. */
  maxBatchSize: 128,
  /**
   * Fewest optimizer steps a run with default epochs takes: enough for the small ResNets to fit a
   * few-shot set (the behaviour test fits 25 images of 5 classes in 300 steps), cheap on few images.
   */
  minSteps: 300,
  /** Fewest epochs a default run takes (the classifier service's CLASSIFIER_DEFAULT_EPOCHS default). */
  defaultEpochs: 30,
  /** Most epochs (the service's CLASSIFIER_MAX_EPOCHS default, and the REST schema's bound). */
  maxEpochs: 1000,
});

/**
 * Images one epoch trains on: FC the real and the synthetic set, FR the synthetic set, the others the
 * real set (LRR and GRR replace drawn images, they add none).
 */
export function epochImages(kind: UtilizationStrategy["kind"], real: number, synthetic: number): number {
  return kind === "FC" ? real + synthetic : kind === "FR" ? synthetic : real;
}

/**
 * Optimizer steps of one epoch as trainClassifier batches by default: full batches only once the epoch
 * holds one, else one batch of every image.
 */
export function stepsPerEpoch(images: number, batchSize: number): number {
  return images >= batchSize ? Math.floor(images / batchSize) : 1;
}

/** The default batch for `images` per epoch: the power of two at most images / 8, within [4, 128]. */
export function sizedBatchSize(images: number): number {
  const target = Math.max(1, Math.floor(images / RECIPE.stepsPerEpoch));
  const power = 2 ** Math.floor(Math.log2(target));
  return Math.min(RECIPE.maxBatchSize, Math.max(RECIPE.minBatchSize, power));
}

/** What a run asks for and the service's limits on epochs. */
export interface RecipeRequest {
  /** Images one epoch trains on (see {@link epochImages}), at least 1. */
  readonly images: number;
  /** Explicit values always win. */
  readonly batchSize?: number;
  readonly epochs?: number;
  /** A step budget: unset epochs are then the fewest that reach it (the last may stop part-way). */
  readonly maxSteps?: number;
  /** Fewest epochs a default run takes (CLASSIFIER_DEFAULT_EPOCHS). */
  readonly defaultEpochs: number;
  /** Most epochs the step budget may ask for (CLASSIFIER_MAX_EPOCHS). */
  readonly maxEpochs: number;
}

/**
 * The batch size and epochs of a run: explicit values as given; an unset batch from
 * {@link sizedBatchSize}; unset epochs the fewest reaching `maxSteps` when a step budget is set, else the
 * fewest reaching {@link RECIPE}.minSteps steps and never fewer than `defaultEpochs`; never more than
 * `maxEpochs`.
 */
export function resolveRecipe(r: RecipeRequest): { batchSize: number; epochs: number } {
  if (!(Number.isInteger(r.images) && r.images >= 1))
    throw new RangeError(`resolveRecipe: bad image count ${r.images}`);
  const batchSize = r.batchSize ?? sizedBatchSize(r.images);
  const perEpoch = stepsPerEpoch(r.images, batchSize);
  const sized =
    r.maxSteps === undefined
      ? Math.max(r.defaultEpochs, Math.ceil(RECIPE.minSteps / perEpoch))
      : Math.ceil(r.maxSteps / perEpoch);
  return { batchSize, epochs: r.epochs ?? Math.min(r.maxEpochs, sized) };
}

/** The same optimizer steps and batch size for every run of a comparison. */
export interface StepBudget {
  readonly batchSize: number;
  readonly maxSteps: number;
}

/**
 * The step budget of a job: what its no-augmentation baseline takes on the `realImages` training images
 * with the job's batch size and epochs (each the recipe's when unset). Every run then trains these many
 * steps at this batch size, whatever its utilization adds to an epoch, so a method's gain cannot come from
 * more optimizer steps or more images seen than its baseline's.
 */
export function stepBudget(realImages: number, request: { batchSize?: number; epochs?: number }): StepBudget {
  const { batchSize, epochs } = resolveRecipe({
    images: realImages,
    batchSize: request.batchSize,
    epochs: request.epochs,
    defaultEpochs: RECIPE.defaultEpochs,
    maxEpochs: RECIPE.maxEpochs,
  });
  return { batchSize, maxSteps: epochs * stepsPerEpoch(realImages, batchSize) };
}
