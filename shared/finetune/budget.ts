import type { StageSettings } from "./methods.js";

/** How much data a fine-tuning run learns from. */
export interface DatasetSize {
  readonly classes: number;
  readonly imagesPerClass: number;
}

/** The DreamBooth-style recipes whose budget is sized to the dataset. */
export type SizedRecipe = "full-unet" | "lora";

/** A stage's settings sized to a dataset, plus the LoRA rank for the LoRA recipe. */
export interface SizedBudget extends StageSettings {
  /** LoRA rank (alpha = rank); absent for full fine-tuning. */
  readonly rank?: number;
}

/**
 * The constants of {@link datasetBudget} (docs/methods.md#dataset-sized-recipes). `passes` is how many
 * times, on average, the run shows each training image (steps × batch / images); the step count is clamped
 * so that a tiny set still gets enough updates to move the weights and a large one stays bounded.
 */
export const DATASET_BUDGET = Object.freeze({
  batchSize: 16,
  passes: 400,
  minSteps: 250,
  maxSteps: 3000,
  warmupSteps: 25,
  "full-unet": Object.freeze({ learningRate: 1e-3 }),
  lora: Object.freeze({ learningRate: 1e-3, rankPerClass: 8, minRank: 8, maxRank: 64 }),
});

function positiveInt(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer, got ${v}`);
}

/**
 * A DreamBooth-style budget sized to the dataset: steps = passes × images / batch (default batch 16), clamped to
 * [minSteps, maxSteps]; a constant learning rate after a short linear warmup; gradient clipping 1.0; no
 * flips (a mirror image is another form for asymmetric classes). The LoRA recipe's rank grows with the
 * class count (rankPerClass × classes, in [minRank, maxRank]): every class adds forms the adapter has to
 * hold. The kit's attention projections are 64 wide, so the cap is full rank there.
 */
export function datasetBudget(
  recipe: SizedRecipe,
  size: DatasetSize,
  batchSize: number = DATASET_BUDGET.batchSize,
): SizedBudget {
  positiveInt("classes", size.classes);
  positiveInt("imagesPerClass", size.imagesPerClass);
  positiveInt("batchSize", batchSize);
  const b = DATASET_BUDGET;
  const images = size.classes * size.imagesPerClass;
  const steps = Math.min(b.maxSteps, Math.max(b.minSteps, Math.ceil((b.passes * images) / batchSize)));
  const settings: StageSettings = {
    steps,
    batchSize,
    learningRate: b[recipe].learningRate,
    lrSchedule: "constant",
    warmupSteps: b.warmupSteps,
    weightDecay: 1e-2,
    clipNorm: 1,
    flipProbability: 0,
  };
  if (recipe === "full-unet") return settings;
  const { rankPerClass, minRank, maxRank } = b.lora;
  return { ...settings, rank: Math.min(maxRank, Math.max(minRank, rankPerClass * size.classes)) };
}
