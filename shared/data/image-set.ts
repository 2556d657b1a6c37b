import { DataError } from "./errors.js";

/**
 * A labelled set of images held in memory: pixels as float32 NCHW in [0, 1], one hard label per image and,
 * for synthetic images, where each came from. Plain data: every helper returns a new set.
 */
export interface ImageSet {
  readonly channels: number;
  readonly height: number;
  readonly width: number;
  /** N·C·H·W floats in [0, 1], image-major, then channel, row, column. */
  readonly images: Float32Array;
  /** N class indices into `classNames`. For an inter-class synthetic image: the target (prompt) class. */
  readonly labels: Int32Array;
  readonly classNames: readonly string[];
  /** Optional N·K soft targets (each row sums to 1); when present they win over `labels` for training. */
  readonly softLabels?: Float32Array;
  /** Synthetic images: index of the real image each was generated from (−1: none, e.g. text-to-image). */
  readonly sourceIndex?: Int32Array;
  /** Synthetic images: class of that real image (differs from `labels` for inter-class edits; −1: none). */
  readonly sourceLabels?: Int32Array;
  /** Synthetic images: generation strength in [0, 1] (SDEdit strength; NaN: unknown). */
  readonly strengths?: Float32Array;
}

/** Fields accepted by {@link createImageSet}; the optional per-item columns are validated like the rest. */
export type ImageSetInit = ImageSet;

/** Number of images in a set. */
export function imageCount(set: ImageSet): number {
  return set.labels.length;
}

/** Floats per image (C·H·W). */
export function imageSize(set: Pick<ImageSet, "channels" | "height" | "width">): number {
  return set.channels * set.height * set.width;
}

/** The pixels of image `index` as a view (no copy). */
export function imageAt(set: ImageSet, index: number): Float32Array {
  const size = imageSize(set);
  return set.images.subarray(index * size, (index + 1) * size);
}

function positiveInt(name: string, value: number): void {
  if (!Number.isInteger(value) || value <= 0) {
    throw new DataError("invalid_argument", `${name} must be a positive integer, got ${value}`);
  }
}

/** Validates shapes and label ranges and returns the set; throws `invalid_argument` on any mismatch. */
export function createImageSet(init: ImageSetInit): ImageSet {
  positiveInt("channels", init.channels);
  positiveInt("height", init.height);
  positiveInt("width", init.width);
  const count = init.labels.length;
  const classes = init.classNames.length;
  if (init.images.length !== count * imageSize(init)) {
    throw new DataError(
      "invalid_argument",
      `images holds ${init.images.length} floats, expected ${count}×${init.channels}×${init.height}×${init.width}`,
    );
  }
  if (classes === 0) throw new DataError("invalid_argument", "classNames must not be empty");
  for (let i = 0; i < count; i++) {
    const label = init.labels[i];
    if (label < 0 || label >= classes) {
      throw new DataError("invalid_argument", `label ${label} of image ${i} is outside [0, ${classes})`);
    }
  }
  if (init.softLabels !== undefined && init.softLabels.length !== count * classes) {
    throw new DataError("invalid_argument", `softLabels must hold N×K = ${count}×${classes} floats`);
  }
  for (const key of ["sourceIndex", "sourceLabels", "strengths"] as const) {
    const column = init[key];
    if (column !== undefined && column.length !== count) {
      throw new DataError("invalid_argument", `${key} must hold one entry per image (${count})`);
    }
  }
  if (init.sourceLabels !== undefined) {
    for (const label of init.sourceLabels) {
      if (label < -1 || label >= classes) {
        throw new DataError("invalid_argument", `source label ${label} is outside [-1, ${classes})`);
      }
    }
  }
  const set: ImageSet = {
    channels: init.channels,
    height: init.height,
    width: init.width,
    images: init.images,
    labels: init.labels,
    classNames: [...init.classNames],
  };
  return withColumns(set, init);
}

/** Copies the optional columns that are present in `from` onto `to` (keeps absent ones absent). */
function withColumns(to: ImageSet, from: Partial<ImageSet>): ImageSet {
  const out: { -readonly [K in keyof ImageSet]: ImageSet[K] } = { ...to };
  if (from.softLabels !== undefined) out.softLabels = from.softLabels;
  if (from.sourceIndex !== undefined) out.sourceIndex = from.sourceIndex;
  if (from.sourceLabels !== undefined) out.sourceLabels = from.sourceLabels;
  if (from.strengths !== undefined) out.strengths = from.strengths;
  return out;
}

/** The images at `indices`, in that order (indices may repeat). */
export function subset(set: ImageSet, indices: ArrayLike<number>): ImageSet {
  const size = imageSize(set);
  const count = imageCount(set);
  const classes = set.classNames.length;
  const n = indices.length;
  const images = new Float32Array(n * size);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const from = indices[i];
    if (!Number.isInteger(from) || from < 0 || from >= count) {
      throw new DataError("invalid_argument", `index ${from} is outside [0, ${count})`);
    }
    images.set(set.images.subarray(from * size, (from + 1) * size), i * size);
    labels[i] = set.labels[from];
  }
  const pick = <T extends Float32Array | Int32Array>(
    column: T | undefined,
    stride: number,
  ): T | undefined => {
    if (column === undefined) return undefined;
    const out = new (column.constructor as new (length: number) => T)(n * stride);
    for (let i = 0; i < n; i++)
      out.set(column.subarray(indices[i] * stride, (indices[i] + 1) * stride), i * stride);
    return out;
  };
  return withColumns(
    {
      channels: set.channels,
      height: set.height,
      width: set.width,
      images,
      labels,
      classNames: set.classNames,
    },
    {
      softLabels: pick(set.softLabels, classes),
      sourceIndex: pick(set.sourceIndex, 1),
      sourceLabels: pick(set.sourceLabels, 1),
      strengths: pick(set.strengths, 1),
    },
  );
}

/**
 * Joins sets of the same shape and class list, in order. An optional column present in only some sets is
 * filled for the others: soft labels with their one-hot labels, source columns with −1, strengths with NaN.
 */
export function concat(sets: readonly ImageSet[]): ImageSet {
  if (sets.length === 0) throw new DataError("invalid_argument", "concat needs at least one set");
  const first = sets[0];
  const classes = first.classNames.length;
  for (const set of sets) {
    if (set.channels !== first.channels || set.height !== first.height || set.width !== first.width) {
      throw new DataError(
        "invalid_argument",
        `cannot concat ${set.channels}×${set.height}×${set.width} with ${first.channels}×${first.height}×${first.width}`,
      );
    }
    if (set.classNames.length !== classes || set.classNames.some((name, i) => name !== first.classNames[i])) {
      throw new DataError("invalid_argument", "cannot concat sets with different class lists");
    }
  }
  const total = sets.reduce((sum, set) => sum + imageCount(set), 0);
  const images = new Float32Array(total * imageSize(first));
  const labels = new Int32Array(total);
  const any = (key: "softLabels" | "sourceIndex" | "sourceLabels" | "strengths") =>
    sets.some((set) => set[key] !== undefined);
  const softLabels = any("softLabels") ? new Float32Array(total * classes) : undefined;
  const sourceIndex = any("sourceIndex") ? new Int32Array(total).fill(-1) : undefined;
  const sourceLabels = any("sourceLabels") ? new Int32Array(total).fill(-1) : undefined;
  const strengths = any("strengths") ? new Float32Array(total).fill(Number.NaN) : undefined;
  let at = 0;
  for (const set of sets) {
    const n = imageCount(set);
    images.set(set.images, at * imageSize(first));
    labels.set(set.labels, at);
    if (softLabels !== undefined) {
      if (set.softLabels !== undefined) softLabels.set(set.softLabels, at * classes);
      else for (let i = 0; i < n; i++) softLabels[(at + i) * classes + set.labels[i]] = 1;
    }
    if (sourceIndex !== undefined && set.sourceIndex !== undefined) sourceIndex.set(set.sourceIndex, at);
    if (sourceLabels !== undefined && set.sourceLabels !== undefined) sourceLabels.set(set.sourceLabels, at);
    if (strengths !== undefined && set.strengths !== undefined) strengths.set(set.strengths, at);
    at += n;
  }
  return withColumns(
    {
      channels: first.channels,
      height: first.height,
      width: first.width,
      images,
      labels,
      classNames: first.classNames,
    },
    { softLabels, sourceIndex, sourceLabels, strengths },
  );
}

/** For each class, the indices of its images in ascending order. */
export function indicesByClass(labels: ArrayLike<number>, classCount: number): Int32Array[] {
  const counts = new Int32Array(classCount);
  for (let i = 0; i < labels.length; i++) counts[labels[i]]++;
  const out = Array.from(counts, (n) => new Int32Array(n));
  const fill = new Int32Array(classCount);
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i];
    out[label][fill[label]++] = i;
  }
  return out;
}

/** Number of images per class. */
export function classCounts(set: ImageSet): Int32Array {
  const counts = new Int32Array(set.classNames.length);
  for (const label of set.labels) counts[label]++;
  return counts;
}

/** Replaces the pixels (and shape) of a set, keeping labels and every per-item column. */
export function withImages(
  set: ImageSet,
  images: Float32Array,
  shape: { channels: number; height: number; width: number },
): ImageSet {
  return createImageSet({ ...set, ...shape, images });
}
