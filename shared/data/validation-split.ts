import { SPLIT_TEST } from "./byte-dataset.js";
import { perClassSplit } from "./dedupe-split.js";

/** Training images split for a choice made on them: fit on `train`, score on `validation` (indices). */
export interface ValidationSplit {
  train: number[];
  validation: number[];
}

/**
 * A stratified, seeded validation split of a training set: each class keeps round(fraction × n) of its n
 * images for validation, at least one and never all of them (a class of one image validates nothing). The
 * test split is not an input: a choice made here can never see a test image.
 */
export function validationSplit(
  labels: ArrayLike<number>,
  classCount: number,
  seed: number,
  fraction: number,
): ValidationSplit {
  if (!(fraction > 0 && fraction < 1))
    throw new RangeError(`validation fraction ${fraction} is not in (0, 1)`);
  const held = (n: number) => (n < 2 ? 0 : Math.min(n - 1, Math.max(1, Math.round(fraction * n))));
  const flags = perClassSplit(Int32Array.from(labels), classCount, seed, held);
  const split: ValidationSplit = { train: [], validation: [] };
  flags.forEach((flag, i) => {
    (flag === SPLIT_TEST ? split.validation : split.train).push(i);
  });
  return split;
}
