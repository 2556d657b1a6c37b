import { Rng } from "../random/index.js";
import { DataError } from "./errors.js";
import { type ImageSet, imageCount, imageSize } from "./image-set.js";
import type { SampleSource } from "./sample-source.js";
import { epochStream } from "./streams.js";
import { DEFAULT_SOFT_LABEL_GAMMA, writeInterClassTarget, writeOneHot } from "./targets.js";

/**
 * How real and synthetic images make up the training stream (docs/methods.md#utilization):
 * - `real`: real images only (the no-augmentation baseline);
 * - `FC`: full concatenation, real ∪ all synthetic;
 * - `FR`: full replacement, synthetic only;
 * - `LRR`: each real image, each epoch, is replaced with probability p by one of its own synthetic variants
 *   (those whose `sourceIndex` points at it); an image with no variant stays real;
 * - `GRR`: each real image, each epoch, is replaced with probability p by any synthetic image of the pool.
 */
export type UtilizationStrategy =
  | { readonly kind: "real" }
  | { readonly kind: "FC" }
  | { readonly kind: "FR" }
  | { readonly kind: "LRR"; readonly p: number }
  | { readonly kind: "GRR"; readonly p: number };

/** Options of {@link utilizationEpoch}. */
export interface UtilizationOptions {
  readonly strategy: UtilizationStrategy;
  readonly seed: number;
  /**
   * Diff-Mix soft labels for inter-class synthetic images (those with a source label and a strength):
   * s^γ on the target class, 1 − s^γ on the source class. Default off (one-hot target labels).
   */
  readonly softLabels?: { readonly gamma?: number };
}

/** Where a sample of an epoch comes from. */
export const FROM_REAL = 0;
/** See {@link FROM_REAL}. */
export const FROM_SYNTHETIC = 1;

/** One epoch's training stream: which set and row each sample is, readable as a {@link SampleSource}. */
export interface EpochPlan extends SampleSource {
  /** Per sample: {@link FROM_REAL} or {@link FROM_SYNTHETIC}. */
  readonly from: Uint8Array;
  /** Per sample: row in the real or synthetic set. */
  readonly index: Int32Array;
  /** How many real images were replaced by synthetic ones (LRR/GRR), 0 otherwise. */
  readonly replaced: number;
}

function checkCompatible(real: ImageSet, synthetic: ImageSet): void {
  if (
    real.channels !== synthetic.channels ||
    real.height !== synthetic.height ||
    real.width !== synthetic.width
  ) {
    throw new DataError(
      "invalid_argument",
      `synthetic images are ${synthetic.channels}×${synthetic.height}×${synthetic.width}, real ones ${real.channels}×${real.height}×${real.width}`,
    );
  }
  if (
    real.classNames.length !== synthetic.classNames.length ||
    real.classNames.some((name, i) => name !== synthetic.classNames[i])
  ) {
    throw new DataError("invalid_argument", "real and synthetic sets must share one class list");
  }
}

/** For each real image, the synthetic rows generated from it (by `sourceIndex`). */
export function variantsBySource(synthetic: ImageSet, realCount: number): Int32Array[] {
  const source = synthetic.sourceIndex;
  if (source === undefined) {
    throw new DataError("invalid_argument", "LRR needs synthetic images that carry sourceIndex");
  }
  const lists: number[][] = Array.from({ length: realCount }, () => []);
  for (let j = 0; j < source.length; j++) {
    const i = source[j];
    if (i === -1) continue;
    if (!Number.isInteger(i) || i < 0 || i >= realCount) {
      throw new DataError(
        "invalid_argument",
        `synthetic image ${j} has sourceIndex ${i}, outside the real set`,
      );
    }
    lists[i].push(j);
  }
  return lists.map((list) => Int32Array.from(list));
}

/**
 * The training stream of one epoch under a utilization strategy, deterministic in (seed, epoch). Samples
 * come in set order (real rows, then synthetic rows for FC); {@link batches} shuffles them. Targets: a
 * synthetic image's own `softLabels` row when it has one; else, with `softLabels` on and a source label and
 * strength present, the Diff-Mix soft label; else one-hot. Real images are always one-hot (or their own
 * soft labels).
 */
export function utilizationEpoch(
  real: ImageSet,
  synthetic: ImageSet | undefined,
  options: UtilizationOptions,
  epoch: number,
): EpochPlan {
  const { strategy } = options;
  const realCount = imageCount(real);
  const pool = synthetic === undefined ? 0 : imageCount(synthetic);
  if (synthetic !== undefined) checkCompatible(real, synthetic);
  if (strategy.kind !== "real" && strategy.kind !== "FC" && pool === 0) {
    throw new DataError("invalid_argument", `${strategy.kind} needs synthetic images`);
  }
  if ((strategy.kind === "LRR" || strategy.kind === "GRR") && !(strategy.p >= 0 && strategy.p <= 1)) {
    throw new DataError(
      "invalid_argument",
      `${strategy.kind} probability must be in [0, 1], got ${strategy.p}`,
    );
  }
  const gamma = options.softLabels?.gamma ?? DEFAULT_SOFT_LABEL_GAMMA;
  if (options.softLabels !== undefined && !(gamma > 0)) {
    throw new DataError("invalid_argument", `soft-label gamma must be > 0, got ${gamma}`);
  }

  const rng = new Rng(options.seed, epochStream(epoch, "utilization"));
  let from: Uint8Array;
  let index: Int32Array;
  let replaced = 0;
  switch (strategy.kind) {
    case "real":
      from = new Uint8Array(realCount).fill(FROM_REAL);
      index = Int32Array.from({ length: realCount }, (_, i) => i);
      break;
    case "FC":
      from = new Uint8Array(realCount + pool).fill(FROM_SYNTHETIC, realCount);
      index = Int32Array.from({ length: realCount + pool }, (_, i) => (i < realCount ? i : i - realCount));
      break;
    case "FR":
      from = new Uint8Array(pool).fill(FROM_SYNTHETIC);
      index = Int32Array.from({ length: pool }, (_, i) => i);
      break;
    case "LRR":
    case "GRR": {
      const variants = strategy.kind === "LRR" ? variantsBySource(synthetic!, realCount) : undefined;
      from = new Uint8Array(realCount);
      index = new Int32Array(realCount);
      for (let i = 0; i < realCount; i++) {
        // One coin per real image whether or not it can be replaced, so draws stay aligned across images.
        const replace = rng.nextFloat() < strategy.p;
        const own = variants?.[i];
        if (replace && (own === undefined || own.length > 0)) {
          from[i] = FROM_SYNTHETIC;
          index[i] = own === undefined ? rng.nextInt(pool) : own[rng.nextInt(own.length)];
          replaced++;
        } else {
          index[i] = i;
        }
      }
      break;
    }
    default:
      throw new DataError("invalid_argument", `unknown utilization ${(strategy as { kind: string }).kind}`);
  }

  const size = imageSize(real);
  const classCount = real.classNames.length;
  const syntheticSet = synthetic;
  const writeSyntheticTarget = (j: number, out: Float32Array, offset: number) => {
    const set = syntheticSet!;
    if (set.softLabels !== undefined) {
      out.set(set.softLabels.subarray(j * classCount, (j + 1) * classCount), offset);
      return;
    }
    const sourceLabel = set.sourceLabels?.[j] ?? -1;
    const strength = set.strengths?.[j] ?? Number.NaN;
    if (options.softLabels !== undefined && sourceLabel >= 0 && Number.isFinite(strength)) {
      writeInterClassTarget(sourceLabel, set.labels[j], strength, gamma, classCount, out, offset);
    } else {
      writeOneHot(set.labels[j], classCount, out, offset);
    }
  };
  return {
    channels: real.channels,
    height: real.height,
    width: real.width,
    count: from.length,
    classCount,
    from,
    index,
    replaced,
    copyImage(k, out, offset) {
      const set = from[k] === FROM_REAL ? real : syntheticSet!;
      const row = index[k];
      out.set(set.images.subarray(row * size, (row + 1) * size), offset);
    },
    writeTarget(k, out, offset) {
      const row = index[k];
      if (from[k] === FROM_SYNTHETIC) writeSyntheticTarget(row, out, offset);
      else if (real.softLabels !== undefined) {
        out.set(real.softLabels.subarray(row * classCount, (row + 1) * classCount), offset);
      } else writeOneHot(real.labels[row], classCount, out, offset);
    },
  };
}
