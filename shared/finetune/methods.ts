/** The published fine-tuning methods (docs/methods.md#fine-tuning), plus full UNet fine-tuning. */
export type FineTuneMethod = "textual-inversion" | "ti-lora" | "text-encoder-lora" | "full-unet";

/** Every method name, in the order the docs list them. */
export const FINE_TUNE_METHODS: readonly FineTuneMethod[] = Object.freeze([
  "textual-inversion",
  "ti-lora",
  "text-encoder-lora",
  "full-unet",
]);

/** The optimisation settings of one training stage. */
export interface StageSettings {
  readonly steps: number;
  readonly batchSize: number;
  readonly learningRate: number;
  readonly lrSchedule: "constant" | "cosine";
  /** Linear warmup steps (cosine only decays after them; constant ramps up then stays). */
  readonly warmupSteps: number;
  /** AdamW decoupled weight decay (diffusers' `adam_weight_decay` default 1e-2). */
  readonly weightDecay: number;
  /** Global gradient-norm clip (diffusers' `max_grad_norm` 1.0), or none. */
  readonly clipNorm: number | null;
  /** Probability of training on an image's mirror image. */
  readonly flipProbability: number;
}

/**
 * Defaults per method for the bundled kit (32×32 images, 8×8 latents, a 0.94 M-parameter UNet, a 2-core
 * CPU), at batch 16 (the paper's effective batch is 64: 16 × 2 GPUs × accumulation 2):
 * - TI: 500 steps (a quarter of the paper's 2000), lr 5e-4 constant, AdamW, no clipping (diffusers'
 *   textual_inversion.py, whose `--scale_lr` is parsed but never applied), flips p 0.5;
 * - TI+LoRA and text-encoder LoRA: 500 steps (the paper's few-shot count), lr 1e-3 constant, clip 1.0, no
 *   flips (train_dreambooth_lora.py's defaults otherwise), rank 8, alpha 8. The paper's 3.2e-4 is tuned
 *   for SD's 860 M-parameter UNet; on the kit, TI+LoRA on the held-out classes sandal and bag (10 shots, 500
 *   LoRA steps) made sandal samples the evaluation classifier recognises 0% at 8e-5, 22% at 3.2e-4 and 84%
 *   at 1e-3 (bag 100% in all three); bench/results/finetune.json has the defaults' figures;
 * - full UNet: lr 1e-5 constant, clip 1.0 (a small rate: every weight moves).
 */
export const METHOD_DEFAULTS: Readonly<Record<"textual-inversion" | "lora" | "full-unet", StageSettings>> =
  Object.freeze({
    "textual-inversion": Object.freeze({
      steps: 500,
      batchSize: 16,
      learningRate: 5e-4,
      lrSchedule: "constant",
      warmupSteps: 0,
      weightDecay: 1e-2,
      clipNorm: null,
      flipProbability: 0.5,
    }),
    lora: Object.freeze({
      steps: 500,
      batchSize: 16,
      learningRate: 1e-3,
      lrSchedule: "constant",
      warmupSteps: 0,
      weightDecay: 1e-2,
      clipNorm: 1,
      flipProbability: 0,
    }),
    "full-unet": Object.freeze({
      steps: 250,
      batchSize: 16,
      learningRate: 1e-5,
      lrSchedule: "constant",
      warmupSteps: 0,
      weightDecay: 1e-2,
      clipNorm: 1,
      flipProbability: 0,
    }),
  });

/** LoRA rank and alpha of the paper (rank 8, lora_alpha 8). */
export const LORA_DEFAULTS = Object.freeze({ rank: 8, alpha: 8 });

/** The initializer word of the paper's TI runs on general datasets. */
export const DEFAULT_INITIALIZER_WORD = "the";

/** The placeholder token of class k when none is given. */
export function defaultClassToken(k: number): string {
  return `<class-${k}>`;
}
