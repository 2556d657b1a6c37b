import sharp from "sharp";
import {
  chwToHwc,
  DEFAULT_IMAGE_LIMITS,
  type DecodedImage,
  type DecodeOptions,
  decodeImage,
} from "./decode.js";
import { DataError } from "./errors.js";
import type { ImageShape } from "./geometry.js";
import { type ImageSet, imageAt, imageCount } from "./image-set.js";

/** Encodes one float CHW image (values clamped to [0, 1]) as an 8-bit PNG: grayscale for 1 channel, RGB for 3. */
export async function encodePng(data: Float32Array, shape: ImageShape): Promise<Uint8Array> {
  const { channels, height, width } = shape;
  if (channels !== 1 && channels !== 3)
    throw new DataError("invalid_argument", `PNG needs 1 or 3 channels, got ${channels}`);
  if (data.length !== channels * height * width) {
    throw new DataError(
      "invalid_argument",
      `${data.length} floats do not make a ${channels}×${height}×${width} image`,
    );
  }
  const raw = Buffer.from(chwToHwc(data, channels, height, width).buffer);
  let image = sharp(raw, { raw: { width, height, channels } });
  if (channels === 1) image = image.toColourspace("b-w"); // else sharp widens it to RGB
  return new Uint8Array(await image.png().toBuffer());
}

/** Encodes image `index` of a set as PNG. */
export function encodeImageSetPng(set: ImageSet, index: number): Promise<Uint8Array> {
  if (!Number.isInteger(index) || index < 0 || index >= imageCount(set)) {
    return Promise.reject(
      new DataError("invalid_argument", `index ${index} is outside [0, ${imageCount(set)})`),
    );
  }
  return encodePng(imageAt(set, index), set);
}

/**
 * Decodes PNG bytes (only PNG: the signature is checked) to float CHW; the same limits and options as
 * {@link decodeImage}. Default channels: the file's own (1 for grayscale, 3 for colour).
 */
export function decodePng(bytes: Uint8Array, options: DecodeOptions = {}): Promise<DecodedImage> {
  return decodeImage(bytes, {
    ...options,
    limits: { ...(options.limits ?? DEFAULT_IMAGE_LIMITS), formats: ["png"] },
  });
}
