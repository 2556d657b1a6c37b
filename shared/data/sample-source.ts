import type { ImageShape } from "./geometry.js";
import { type ImageSet, imageCount, imageSize } from "./image-set.js";
import { writeOneHot } from "./targets.js";

/**
 * Anything a batch iterator can draw samples from: an image set, or one epoch of a utilization strategy
 * (real and synthetic images interleaved without copying them).
 */
export interface SampleSource extends ImageShape {
  readonly count: number;
  readonly classCount: number;
  /** Copies sample `index`'s CHW pixels into `out` at `offset`. */
  copyImage(index: number, out: Float32Array, offset: number): void;
  /** Writes sample `index`'s target row (K floats summing to 1) into `out` at `offset`. */
  writeTarget(index: number, out: Float32Array, offset: number): void;
}

/** A set as a sample source: targets are its soft labels when it has them, else one-hot labels. */
export function imageSetSource(set: ImageSet): SampleSource {
  const size = imageSize(set);
  const classCount = set.classNames.length;
  return {
    channels: set.channels,
    height: set.height,
    width: set.width,
    count: imageCount(set),
    classCount,
    copyImage(index, out, offset) {
      out.set(set.images.subarray(index * size, (index + 1) * size), offset);
    },
    writeTarget(index, out, offset) {
      if (set.softLabels !== undefined) {
        out.set(set.softLabels.subarray(index * classCount, (index + 1) * classCount), offset);
      } else {
        writeOneHot(set.labels[index], classCount, out, offset);
      }
    },
  };
}
