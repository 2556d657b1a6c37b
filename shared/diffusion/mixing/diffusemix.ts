import { NoisePurpose, type SampleKey, sampleRng } from "../noise.js";
import { type ChwImage, checkSameShape } from "./image.js";

/** Which way DiffuseMix joins the halves: `horizontal` = left/right halves, `vertical` = top/bottom. */
export type ConcatOrientation = "horizontal" | "vertical";

/**
 * The blend mask along one axis of `size` pixels (DiffuseMix `combine_images`): 0 for the first
 * ⌊size/2⌋ − ⌊w/2⌋ pixels, then `np.linspace(0, 1, w)`, then 1 to the end.
 */
export function halfConcatMask(size: number, blendWidth: number): Float32Array {
  if (!Number.isInteger(blendWidth) || blendWidth < 1)
    throw new RangeError(`blend width must be a positive integer`);
  const start = Math.floor(size / 2) - Math.floor(blendWidth / 2);
  if (start < 0 || start + blendWidth > size) {
    throw new RangeError(`an image side of ${size} px is too small for a ${blendWidth} px blend`);
  }
  const mask = new Float32Array(size);
  for (let i = 0; i < blendWidth; i++) mask[start + i] = blendWidth === 1 ? 0 : i / (blendWidth - 1);
  mask.fill(1, start + blendWidth);
  return mask;
}

/**
 * DiffuseMix's half-and-half concatenation of the original image and its edited version, with a linear blend of
 * `blendWidth` px (20 in DiffuseMix) across the seam: out = (1 − mask)·original + mask·augmented, so the
 * first half (left or top) is the original and the second the augmentation. Clipped to [0, 1].
 */
export function halfConcat(
  original: ChwImage,
  augmented: ChwImage,
  orientation: ConcatOrientation,
  blendWidth = 20,
): ChwImage {
  checkSameShape(original, augmented);
  const { channels, height, width } = original;
  const mask = halfConcatMask(orientation === "horizontal" ? width : height, blendWidth);
  const data = new Float32Array(original.data.length);
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const i = (c * height + y) * width + x;
        const m = orientation === "horizontal" ? mask[x] : mask[y];
        data[i] = Math.min(1, Math.max(0, (1 - m) * original.data[i] + m * augmented.data[i]));
      }
    }
  }
  return { data, channels, height, width };
}

/** DiffuseMix's random orientation (each with probability ½) for one sample. */
export function randomOrientation(key: SampleKey): ConcatOrientation {
  return sampleRng(key, NoisePurpose.halfConcat).nextFloat() < 0.5 ? "horizontal" : "vertical";
}

/**
 * DiffuseMix's fractal blend: (1 − α)·image + α·fractal with α = 0.2, clipped to [0, 1]. The fractal must
 * already have the image's shape (DiffuseMix resizes it first).
 */
export function fractalBlend(image: ChwImage, fractal: ChwImage, alpha = 0.2): ChwImage {
  checkSameShape(image, fractal);
  if (!(alpha >= 0 && alpha <= 1)) throw new RangeError(`alpha must be in [0, 1], got ${alpha}`);
  const data = Float32Array.from(image.data, (v, i) =>
    Math.min(1, Math.max(0, (1 - alpha) * v + alpha * fractal.data[i])),
  );
  return { data, channels: image.channels, height: image.height, width: image.width };
}
