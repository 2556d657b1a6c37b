import { DataError } from "./errors.js";

/** Writes a one-hot row for `label` into `out` at `offset`. */
export function writeOneHot(label: number, classCount: number, out: Float32Array, offset = 0): void {
  out.fill(0, offset, offset + classCount);
  out[offset + label] = 1;
}

/** Default exponent of the inter-class soft label (docs/methods.md#utilization: Diff-Mix uses γ = 0.5). */
export const DEFAULT_SOFT_LABEL_GAMMA = 0.5;

/**
 * Diff-Mix's soft label for an inter-class synthetic image (source image of class `source` edited toward
 * class `target` with SDEdit strength s): weight w = s^γ on the target, 1 − w on the source.
 *
 * When target == source the row is one-hot. The paper's released code assigns 1 − w to the source cell and
 * then w to the target cell; when the two coincide the second assignment overwrites the first and the row
 * sums to s^γ < 1 in the released re-implementation (docs/methods.md#utilization). We add the two weights instead, so every row sums to 1: a
 * deliberate difference, not a reproduction.
 */
export function writeInterClassTarget(
  source: number,
  target: number,
  strength: number,
  gamma: number,
  classCount: number,
  out: Float32Array | Float64Array,
  offset = 0,
): void {
  if (!(strength >= 0 && strength <= 1)) {
    throw new DataError("invalid_argument", `strength must be in [0, 1], got ${strength}`);
  }
  if (!(gamma > 0)) throw new DataError("invalid_argument", `gamma must be > 0, got ${gamma}`);
  const w = strength ** gamma;
  out.fill(0, offset, offset + classCount);
  out[offset + target] += w;
  out[offset + source] += 1 - w;
}

/** Label smoothing in place over `rows` rows: t ← (1 − ε)·t + ε/K. */
export function smoothTargets(
  targets: Float32Array,
  rows: number,
  classCount: number,
  epsilon: number,
): void {
  if (!(epsilon >= 0 && epsilon < 1)) {
    throw new DataError("invalid_argument", `label smoothing must be in [0, 1), got ${epsilon}`);
  }
  if (epsilon === 0) return;
  const floor = epsilon / classCount;
  for (let i = 0; i < rows * classCount; i++) targets[i] = (1 - epsilon) * targets[i] + floor;
}
