import { DataError } from "./errors.js";
import { type ImageSet, imageCount, withImages } from "./image-set.js";

/** ITU-R BT.601 luma weights, as PIL's "L" conversion uses. */
const LUMA = [0.299, 0.587, 0.114] as const;

/** Grayscale → RGB by repeating the one channel three times; RGB sets are returned unchanged. */
export function toRgb(set: ImageSet): ImageSet {
  if (set.channels === 3) return set;
  if (set.channels !== 1)
    throw new DataError("invalid_argument", `toRgb needs 1 or 3 channels, got ${set.channels}`);
  const plane = set.height * set.width;
  const n = imageCount(set);
  const images = new Float32Array(n * 3 * plane);
  for (let i = 0; i < n; i++) {
    const gray = set.images.subarray(i * plane, (i + 1) * plane);
    for (let c = 0; c < 3; c++) images.set(gray, (i * 3 + c) * plane);
  }
  return withImages(set, images, { channels: 3, height: set.height, width: set.width });
}

/** RGB → grayscale by BT.601 luma; grayscale sets are returned unchanged. */
export function toGrayscale(set: ImageSet): ImageSet {
  if (set.channels === 1) return set;
  if (set.channels !== 3) {
    throw new DataError("invalid_argument", `toGrayscale needs 1 or 3 channels, got ${set.channels}`);
  }
  const plane = set.height * set.width;
  const n = imageCount(set);
  const images = new Float32Array(n * plane);
  for (let i = 0; i < n; i++) {
    const base = i * 3 * plane;
    for (let p = 0; p < plane; p++) {
      images[i * plane + p] =
        LUMA[0] * set.images[base + p] +
        LUMA[1] * set.images[base + plane + p] +
        LUMA[2] * set.images[base + 2 * plane + p];
    }
  }
  return withImages(set, images, { channels: 1, height: set.height, width: set.width });
}

/** Converts to 1 or 3 channels. */
export function toChannels(set: ImageSet, channels: 1 | 3): ImageSet {
  return channels === 1 ? toGrayscale(set) : toRgb(set);
}
