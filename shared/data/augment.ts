import type { Rng } from "../random/index.js";
import { DataError } from "./errors.js";
import type { ImageShape } from "./geometry.js";

/** How the border is filled for a padded random crop. */
export type PadMode = "zero" | "reflect";

/** Per-image augmentations (the "traditional" baseline's flip/crop/noise). Each is off when left out. */
export interface AugmentOptions {
  /** Probability of a horizontal flip. Typical: 0.5 (not for digits, whose mirror images are other shapes). */
  readonly flip?: number;
  /** Random crop of the original size after padding each side (torchvision RandomCrop(size, padding)). */
  readonly crop?: { readonly padding?: number; readonly mode?: PadMode };
  /** Additive gaussian noise with this standard deviation, then clamped to [0, 1]. */
  readonly noiseStd?: number;
}

/** The CIFAR-style default: flip with p = 0.5, crop with 4 px of zero padding, no noise. */
export const DEFAULT_AUGMENT: AugmentOptions = { flip: 0.5, crop: { padding: 4, mode: "zero" } };

/** Default crop padding in pixels. */
export const DEFAULT_CROP_PADDING = 4;

/** Mirrors one CHW image left–right into `out` (may not alias `src`). */
export function flipHorizontal(src: Float32Array, shape: ImageShape, out: Float32Array): Float32Array {
  const { channels, height, width } = shape;
  for (let row = 0; row < channels * height; row++) {
    const base = row * width;
    for (let x = 0; x < width; x++) out[base + x] = src[base + width - 1 - x];
  }
  return out;
}

/** Index `i` folded into [0, n) by reflection without repeating the edge (numpy/torch "reflect"). */
function reflect(i: number, n: number): number {
  if (n === 1) return 0;
  const period = 2 * (n - 1);
  let j = ((i % period) + period) % period;
  if (j >= n) j = period - j;
  return j;
}

/**
 * The crop of a padded image at offset (dy, dx) in [0, 2·padding], without building the padded image:
 * out[y][x] = padded[y + dy][x + dx]. `out` may not alias `src`.
 */
export function cropPadded(
  src: Float32Array,
  shape: ImageShape,
  padding: number,
  dy: number,
  dx: number,
  mode: PadMode,
  out: Float32Array,
): Float32Array {
  const { channels, height, width } = shape;
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < height; y++) {
      let sy = y + dy - padding;
      const rowOutside = sy < 0 || sy >= height;
      if (rowOutside && mode === "reflect") sy = reflect(sy, height);
      const dst = (c * height + y) * width;
      for (let x = 0; x < width; x++) {
        let sx = x + dx - padding;
        const outside = rowOutside || sx < 0 || sx >= width;
        if (outside && mode === "zero") {
          out[dst + x] = 0;
          continue;
        }
        if (sx < 0 || sx >= width) sx = reflect(sx, width);
        out[dst + x] = src[(c * height + sy) * width + sx];
      }
    }
  }
  return out;
}

/** Checks augmentation options once, before a loop uses them. */
export function validateAugment(options: AugmentOptions, shape: ImageShape): void {
  const { flip, crop, noiseStd } = options;
  if (flip !== undefined && !(flip >= 0 && flip <= 1)) {
    throw new DataError("invalid_argument", `flip probability must be in [0, 1], got ${flip}`);
  }
  if (crop !== undefined) {
    const padding = crop.padding ?? DEFAULT_CROP_PADDING;
    if (!Number.isInteger(padding) || padding < 0) {
      throw new DataError("invalid_argument", `crop padding must be a non-negative integer, got ${padding}`);
    }
    if ((crop.mode ?? "zero") === "reflect" && padding >= Math.min(shape.height, shape.width)) {
      throw new DataError(
        "invalid_argument",
        `reflect padding ${padding} must be smaller than the image side`,
      );
    }
  }
  if (noiseStd !== undefined && !(noiseStd >= 0)) {
    throw new DataError("invalid_argument", `noiseStd must be ≥ 0, got ${noiseStd}`);
  }
}

/**
 * Applies the configured augmentations to `image` in place, drawing from `rng` in a fixed order (flip coin,
 * crop offsets, noise), so the result depends only on the rng state. `scratch` holds one image.
 */
export function augmentImage(
  rng: Rng,
  image: Float32Array,
  shape: ImageShape,
  options: AugmentOptions,
  scratch: Float32Array = new Float32Array(image.length),
): Float32Array {
  if (options.flip !== undefined && options.flip > 0 && rng.nextFloat() < options.flip) {
    flipHorizontal(image, shape, scratch);
    image.set(scratch);
  }
  if (options.crop !== undefined) {
    const padding = options.crop.padding ?? DEFAULT_CROP_PADDING;
    if (padding > 0) {
      const dy = rng.nextInt(2 * padding + 1);
      const dx = rng.nextInt(2 * padding + 1);
      cropPadded(image, shape, padding, dy, dx, options.crop.mode ?? "zero", scratch);
      image.set(scratch);
    }
  }
  if (options.noiseStd !== undefined && options.noiseStd > 0) {
    for (let i = 0; i < image.length; i++) {
      const v = image[i] + options.noiseStd * rng.nextNormal();
      image[i] = Math.min(Math.max(v, 0), 1);
    }
  }
  return image;
}
