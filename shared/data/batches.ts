import { Rng } from "../random/index.js";
import { type AugmentOptions, augmentImage, validateAugment } from "./augment.js";
import { sampleBeta } from "./beta.js";
import { DataError } from "./errors.js";
import { cutmixBatch, cutmixBox, mixupBatch } from "./mix.js";
import type { SampleSource } from "./sample-source.js";
import { epochStream } from "./streams.js";
import { smoothTargets } from "./targets.js";

/** Which batch-level mixing a batch may get. `either` picks MixUp or CutMix with equal odds per batch. */
export type MixMode = "mixup" | "cutmix" | "either";

/** MixUp/CutMix settings (the paper's `--tradition_augment`: α = 1, half of the batches). */
export interface MixOptions {
  readonly mode: MixMode;
  /** λ ~ Beta(α, α). Default 1 (λ uniform). */
  readonly alpha?: number;
  /** Share of batches that are mixed. Default 0.5. */
  readonly probability?: number;
}

/** Options of {@link batches}. */
export interface BatchOptions {
  readonly batchSize: number;
  readonly seed: number;
  /** Epoch number: with the seed it fixes the order and every random draw of the pass. */
  readonly epoch: number;
  /** Default true. False keeps source order (evaluation). */
  readonly shuffle?: boolean;
  /** Drop a last batch smaller than batchSize. Default false. */
  readonly dropLast?: boolean;
  /** Per-image augmentation. Default none. */
  readonly augment?: AugmentOptions;
  /** Batch-level MixUp/CutMix. Default none. */
  readonly mix?: MixOptions;
  /** Label smoothing ε applied to the final targets. Default 0. */
  readonly labelSmoothing?: number;
}

/** One batch, ready to feed a classifier. */
export interface Batch {
  /** size·C·H·W floats, NCHW. */
  readonly images: Float32Array;
  /** size·K floats; each row sums to 1. */
  readonly targets: Float32Array;
  readonly size: number;
  /** Which samples of the source are in the batch (before mixing). */
  readonly indices: Int32Array;
  /** Set when the batch was mixed: which way, and the λ its targets carry. */
  readonly mixed?: { readonly mode: "mixup" | "cutmix"; readonly lambda: number };
}

/** Number of batches {@link batches} yields for `count` samples. */
export function batchCount(count: number, batchSize: number, dropLast = false): number {
  return dropLast ? Math.floor(count / batchSize) : Math.ceil(count / batchSize);
}

/** The sample order of one epoch: a seeded permutation, or the identity when `shuffle` is false. */
export function epochOrder(count: number, seed: number, epoch: number, shuffle = true): Int32Array {
  const order = Array.from({ length: count }, (_, i) => i);
  if (shuffle) new Rng(seed, epochStream(epoch, "shuffle")).shuffle(order);
  return Int32Array.from(order);
}

function validate(source: SampleSource, options: BatchOptions): void {
  if (!Number.isInteger(options.batchSize) || options.batchSize < 1) {
    throw new DataError("invalid_argument", `batchSize must be a positive integer, got ${options.batchSize}`);
  }
  if (options.augment !== undefined) validateAugment(options.augment, source);
  const mix = options.mix;
  if (mix !== undefined) {
    if (!["mixup", "cutmix", "either"].includes(mix.mode)) {
      throw new DataError("invalid_argument", `mix mode must be mixup, cutmix or either, got ${mix.mode}`);
    }
    if (mix.alpha !== undefined && !(mix.alpha > 0)) {
      throw new DataError("invalid_argument", `mix alpha must be > 0, got ${mix.alpha}`);
    }
    if (mix.probability !== undefined && !(mix.probability >= 0 && mix.probability <= 1)) {
      throw new DataError("invalid_argument", `mix probability must be in [0, 1], got ${mix.probability}`);
    }
  }
  const epsilon = options.labelSmoothing ?? 0;
  if (!(epsilon >= 0 && epsilon < 1)) {
    throw new DataError("invalid_argument", `labelSmoothing must be in [0, 1), got ${epsilon}`);
  }
}

/**
 * One epoch of batches from `source`: shuffled by (seed, epoch), each image augmented, a share of batches
 * MixUp/CutMix-ed, targets label-smoothed. Shuffle, augmentation and mixing draw from separate streams of
 * the seed, so every output is a function of (seed, epoch, batchSize, options) and augmentation draws do not
 * depend on the batch size.
 */
export function* batches(source: SampleSource, options: BatchOptions): Generator<Batch> {
  validate(source, options);
  const { batchSize, seed, epoch } = options;
  const order = epochOrder(source.count, seed, epoch, options.shuffle ?? true);
  const augmentRng = new Rng(seed, epochStream(epoch, "augment"));
  const mixRng = new Rng(seed, epochStream(epoch, "mix"));
  const size = source.channels * source.height * source.width;
  const classCount = source.classCount;
  const scratch = new Float32Array(size);
  const total = batchCount(source.count, batchSize, options.dropLast);
  for (let b = 0; b < total; b++) {
    const indices = order.subarray(b * batchSize, Math.min((b + 1) * batchSize, source.count));
    const n = indices.length;
    const images = new Float32Array(n * size);
    const targets = new Float32Array(n * classCount);
    for (let i = 0; i < n; i++) {
      source.copyImage(indices[i], images, i * size);
      source.writeTarget(indices[i], targets, i * classCount);
      if (options.augment !== undefined) {
        augmentImage(augmentRng, images.subarray(i * size, (i + 1) * size), source, options.augment, scratch);
      }
    }
    let mixed: Batch["mixed"];
    const mix = options.mix;
    if (mix !== undefined && mixRng.nextFloat() < (mix.probability ?? 0.5)) {
      const mode = mix.mode === "either" ? (mixRng.nextFloat() < 0.5 ? "mixup" : "cutmix") : mix.mode;
      const alpha = mix.alpha ?? 1;
      const lambda = sampleBeta(mixRng, alpha, alpha);
      if (mode === "mixup") {
        mixed = { mode, lambda: mixupBatch(images, targets, n, size, classCount, lambda) };
      } else {
        const box = cutmixBox(
          source,
          lambda,
          mixRng.nextFloat() * source.height,
          mixRng.nextFloat() * source.width,
        );
        mixed = { mode, lambda: cutmixBatch(images, targets, n, source, classCount, box) };
      }
    }
    smoothTargets(targets, n, classCount, options.labelSmoothing ?? 0);
    yield { images, targets, size: n, indices: Int32Array.from(indices), ...(mixed ? { mixed } : {}) };
  }
}
