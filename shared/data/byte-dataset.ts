import { DataError } from "./errors.js";
import { createImageSet, type ImageSet } from "./image-set.js";

/** Which split an image of a {@link ByteDataset} belongs to. */
export const SPLIT_TRAIN = 0;
/** See {@link SPLIT_TRAIN}. */
export const SPLIT_TEST = 1;

/**
 * A whole dataset kept compact: 8-bit pixels (a quarter of the float size) with labels and a fixed
 * train/test split. Tasks pick indices from it and turn only those into float {@link ImageSet}s.
 */
export interface ByteDataset {
  readonly name: string;
  readonly channels: number;
  readonly height: number;
  readonly width: number;
  readonly classNames: readonly string[];
  /** N·C·H·W bytes, 0–255. */
  readonly pixels: Uint8Array;
  readonly labels: Int32Array;
  /** Per image: {@link SPLIT_TRAIN} or {@link SPLIT_TEST}. */
  readonly split: Uint8Array;
  /**
   * Per image: its position in the source it was read from (entry index inside the package's class file;
   * for a generated set, the image's index within its class).
   */
  readonly origin: Int32Array;
  /** Indices of the train images, ascending. */
  readonly train: Int32Array;
  /** Indices of the test images, ascending. */
  readonly test: Int32Array;
}

/** The indices whose split flag equals `which`, ascending. */
export function splitIndices(split: Uint8Array, which: number): Int32Array {
  let n = 0;
  for (const flag of split) if (flag === which) n++;
  const out = new Int32Array(n);
  let at = 0;
  for (let i = 0; i < split.length; i++) if (split[i] === which) out[at++] = i;
  return out;
}

/** The images at `indices` (default: all) as a float set in [0, 1]. */
export function toImageSet(dataset: ByteDataset, indices?: ArrayLike<number>): ImageSet {
  const size = dataset.channels * dataset.height * dataset.width;
  const count = dataset.labels.length;
  const pick = indices ?? Int32Array.from({ length: count }, (_, i) => i);
  const images = new Float32Array(pick.length * size);
  const labels = new Int32Array(pick.length);
  for (let i = 0; i < pick.length; i++) {
    const from = pick[i];
    if (!Number.isInteger(from) || from < 0 || from >= count) {
      throw new DataError("invalid_argument", `index ${from} is outside [0, ${count})`);
    }
    const base = from * size;
    for (let p = 0; p < size; p++) images[i * size + p] = dataset.pixels[base + p] / 255;
    labels[i] = dataset.labels[from];
  }
  return createImageSet({
    channels: dataset.channels,
    height: dataset.height,
    width: dataset.width,
    images,
    labels,
    classNames: dataset.classNames,
  });
}
