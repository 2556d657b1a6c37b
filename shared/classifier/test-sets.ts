import { createImageSet, type ImageSet } from "../data/index.js";
import { Rng } from "../random/index.js";

/** Helpers that make tiny labelled sets for tests (not part of the public API). */

const BAR_CLASSES = ["horizontal", "vertical", "square", "diagonal", "antidiagonal"] as const;

/**
 * `count` 16×16 grayscale images in `classes` (3 to 5) separable classes: a horizontal bar, a vertical
 * bar, a filled 4×4 square, a ↘ or a ↗ diagonal, each at a random place on a noisy background; labels
 * cycle 0, 1, ….
 */
export function barsSet(count: number, seed: number, classes: 3 | 4 | 5 = 3): ImageSet {
  const side = 16;
  const rng = new Rng(seed);
  const images = new Float32Array(count * side * side);
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const label = i % classes;
    labels[i] = label;
    const img = images.subarray(i * side * side, (i + 1) * side * side);
    for (let p = 0; p < img.length; p++) img[p] = 0.15 * rng.nextFloat();
    const at = 2 + rng.nextInt(side - 6);
    const from = 2 + rng.nextInt(side - 10);
    for (let j = 0; j < 6; j++) {
      if (label === 0) img[at * side + from + j] = 1;
      else if (label === 1) img[(from + j) * side + at] = 1;
    }
    if (label === 2) {
      for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) img[(at + y) * side + from + x] = 1;
    }
    if (label >= 3) {
      // Starting at column 2–7 keeps all six pixels inside the image.
      const column = 2 + ((at - 2) % 6);
      for (let j = 0; j < 6; j++) img[(label === 3 ? from + j : from + 5 - j) * side + column + j] = 1;
    }
  }
  return createImageSet({
    channels: 1,
    height: side,
    width: side,
    images,
    labels,
    classNames: BAR_CLASSES.slice(0, classes),
  });
}

/** A small network for 16 px test images: widths [8, 16], one block per stage, 4 groups. */
export const TINY_MODEL = { widths: [8, 16], blocksPerStage: 1, groups: 4 } as const;
