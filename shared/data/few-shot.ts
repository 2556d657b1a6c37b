import { Rng } from "../random/index.js";
import { type ByteDataset, SPLIT_TEST, SPLIT_TRAIN, toImageSet } from "./byte-dataset.js";
import { DataError } from "./errors.js";
import { createImageSet, type ImageSet, subset } from "./image-set.js";

/**
 * Seed of the fixed per-class test subset ({@link FewShotOptions.testPerClass}). It is not the task seed on
 * purpose: tasks with different seeds are evaluated on the same test images, so their accuracies compare.
 */
export const TEST_SUBSET_SEED = 0x7e57;

/** A few-shot task's recipe: dataset + shots per class + split seed (+ optional class subset). */
export interface FewShotOptions {
  /** Train images per class (k), drawn from the train split only. */
  readonly shots: number;
  /** Which k images are drawn. The same seed always draws the same images; k-shot ⊂ (k+1)-shot. */
  readonly seed: number;
  /** Classes to keep, by index or name, in the order they get their new labels 0…K'−1. Default: all. */
  readonly classes?: readonly (number | string)[];
  /** Test images per class: a fixed subset of the test split (same for every seed). Default: all of it. */
  readonly testPerClass?: number;
}

/** The images of a task, as indices into its source, plus the source class of each task label. */
export interface FewShotIndices {
  /** Task label i is source class `classes[i]`. */
  readonly classes: readonly number[];
  /** Train indices into the source: class by class (task order), ascending within a class. */
  readonly train: Int32Array;
  /** Test indices into the source, ordered the same way. */
  readonly test: Int32Array;
}

function resolveClasses(
  classNames: readonly string[],
  wanted: readonly (number | string)[] | undefined,
): number[] {
  if (wanted === undefined) return classNames.map((_, i) => i);
  if (wanted.length === 0) throw new DataError("invalid_argument", "classes must not be empty");
  const out = wanted.map((c) => {
    const index = typeof c === "number" ? c : classNames.indexOf(c);
    if (!Number.isInteger(index) || index < 0 || index >= classNames.length) {
      throw new DataError("invalid_argument", `unknown class ${JSON.stringify(c)}`, { class: String(c) });
    }
    return index;
  });
  if (new Set(out).size !== out.length) throw new DataError("invalid_argument", "classes must not repeat");
  return out;
}

/** Members of class `c` with split flag `which`, ascending. */
function members(labels: ArrayLike<number>, split: Uint8Array, c: number, which: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < labels.length; i++) if (labels[i] === c && split[i] === which) out.push(i);
  return out;
}

/** `n` of `items`, chosen by a seeded shuffle on stream `stream`, returned ascending. */
function draw(items: number[], n: number, seed: number, stream: number): number[] {
  return new Rng(seed, stream)
    .shuffle(items)
    .slice(0, n)
    .sort((a, b) => a - b);
}

/**
 * Picks a few-shot task's images: for each class, exactly `shots` train images drawn from the TRAIN split by
 * a shuffle seeded with (seed, class), and the class's TEST split (or its fixed subset). Train and test are
 * disjoint by construction; each class draws from its own stream, so a class subset draws the same images
 * for the classes it keeps.
 */
export function fewShotIndices(
  labels: ArrayLike<number>,
  split: Uint8Array,
  classNames: readonly string[],
  options: FewShotOptions,
): FewShotIndices {
  const { shots, seed, testPerClass } = options;
  if (!Number.isInteger(shots) || shots < 1) {
    throw new DataError("invalid_argument", `shots must be a positive integer, got ${shots}`);
  }
  if (testPerClass !== undefined && (!Number.isInteger(testPerClass) || testPerClass < 1)) {
    throw new DataError("invalid_argument", `testPerClass must be a positive integer, got ${testPerClass}`);
  }
  if (split.length !== labels.length)
    throw new DataError("invalid_argument", "split and labels differ in length");
  const classes = resolveClasses(classNames, options.classes);
  const train: number[] = [];
  const test: number[] = [];
  for (const c of classes) {
    const pool = members(labels, split, c, SPLIT_TRAIN);
    if (pool.length < shots) {
      throw new DataError(
        "not_enough_images",
        `class ${JSON.stringify(classNames[c])} has ${pool.length} train images, fewer than ${shots} shots`,
        { class: classNames[c], count: pool.length, shots },
      );
    }
    train.push(...draw(pool, shots, seed, c));
    const held = members(labels, split, c, SPLIT_TEST);
    if (held.length === 0) {
      throw new DataError("not_enough_images", `class ${JSON.stringify(classNames[c])} has no test images`, {
        class: classNames[c],
      });
    }
    test.push(...(testPerClass === undefined ? held : draw(held, testPerClass, TEST_SUBSET_SEED, c)));
  }
  return { classes, train: Int32Array.from(train), test: Int32Array.from(test) };
}

/** A few-shot task ready to train on: float image sets relabelled to the task's classes. */
export interface FewShotTask extends FewShotIndices {
  readonly shots: number;
  readonly seed: number;
  readonly classNames: readonly string[];
  readonly trainSet: ImageSet;
  readonly testSet: ImageSet;
}

/** A user image set with a train/test split flag per image (see {@link perClassSplit}). */
export interface SplitImageSet {
  readonly set: ImageSet;
  readonly split: Uint8Array;
}

/** Maps source labels to task labels (position in `classes`) and keeps only those classes' names. */
function relabel(set: ImageSet, classes: readonly number[]): ImageSet {
  const toTask = new Map(classes.map((c, i) => [c, i]));
  const sourceClasses = set.classNames.length;
  let softLabels: Float32Array | undefined;
  if (set.softLabels !== undefined) {
    const n = set.labels.length;
    softLabels = new Float32Array(n * classes.length);
    for (let i = 0; i < n; i++) {
      classes.forEach((c, k) => {
        softLabels![i * classes.length + k] = set.softLabels![i * sourceClasses + c];
      });
    }
  }
  return createImageSet({
    ...set,
    labels: Int32Array.from(set.labels, (label) => toTask.get(label)!),
    sourceLabels: set.sourceLabels && Int32Array.from(set.sourceLabels, (label) => toTask.get(label) ?? -1),
    softLabels,
    classNames: classes.map((c) => set.classNames[c]),
  });
}

/**
 * Builds a few-shot task from a built-in dataset (its fixed split) or from a user set with a split. Only the
 * picked images are turned into floats.
 */
export function makeFewShotTask(source: ByteDataset | SplitImageSet, options: FewShotOptions): FewShotTask {
  const labels = "set" in source ? source.set.labels : source.labels;
  const classNames = "set" in source ? source.set.classNames : source.classNames;
  const picked = fewShotIndices(labels, source.split, classNames, options);
  const materialise = (indices: Int32Array) =>
    relabel("set" in source ? subset(source.set, indices) : toImageSet(source, indices), picked.classes);
  const trainSet = materialise(picked.train);
  return {
    ...picked,
    shots: options.shots,
    seed: options.seed,
    classNames: trainSet.classNames,
    trainSet,
    testSet: materialise(picked.test),
  };
}
