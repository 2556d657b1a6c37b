import { encodePng } from "../../data/index.js";
import type { ChwImage } from "../mixing/index.js";
import type { DiffusionModel } from "../models/index.js";
import type { LatentMode } from "../models/vae.js";
import type { GeneratedImage } from "./types.js";

/** Height and width shared by a batch of images. */
export interface ImageSize {
  readonly height: number;
  readonly width: number;
}

/**
 * Packs images (CHW in [0, 1]) into one NCHW batch in [−1, 1] with `channels` channels; grayscale images are
 * repeated to three channels. Every image must have the same size.
 */
export function imagesToBatch(
  images: readonly ChwImage[],
  channels: number,
): { data: Float32Array; size: ImageSize } {
  if (images.length === 0) throw new RangeError("no images");
  const { height, width } = images[0];
  const plane = height * width;
  const data = new Float32Array(images.length * channels * plane);
  images.forEach((image, n) => {
    if (image.height !== height || image.width !== width) {
      throw new RangeError(
        `images of one batch must share a size: ${image.height}×${image.width} vs ${height}×${width}`,
      );
    }
    if (image.data.length !== image.channels * plane) throw new RangeError("image data and shape differ");
    if (image.channels !== channels && image.channels !== 1) {
      throw new RangeError(`an image with ${image.channels} channels cannot feed a ${channels}-channel VAE`);
    }
    for (let c = 0; c < channels; c++) {
      const source = image.data.subarray(
        (image.channels === 1 ? 0 : c) * plane,
        (image.channels === 1 ? 1 : c + 1) * plane,
      );
      const offset = (n * channels + c) * plane;
      for (let i = 0; i < plane; i++) data[offset + i] = 2 * source[i] - 1;
    }
  });
  return { data, size: { height, width } };
}

/** Splits a decoded NCHW batch in [−1, 1] into CHW images in [0, 1] (diffusers' `(x / 2 + 0.5).clamp(0, 1)`). */
export function batchToImages(data: Float32Array, dims: readonly number[]): ChwImage[] {
  const [batch, channels, height, width] = dims;
  const size = channels * height * width;
  return Array.from({ length: batch }, (_, n) => ({
    data: Float32Array.from(data.subarray(n * size, (n + 1) * size), (v) =>
      Math.min(1, Math.max(0, v / 2 + 0.5)),
    ),
    channels,
    height,
    width,
  }));
}

/** Latents of the UNet's space for images: VAE encode, then (z − shift)·scaling_factor. */
export async function encodeImages(
  model: DiffusionModel,
  images: readonly ChwImage[],
  mode: LatentMode,
  options: { scaled?: boolean } = {},
): Promise<{ latents: Float32Array; height: number; width: number }> {
  const vae = model.requireVaeEncoder("encoding images");
  const { data, size } = imagesToBatch(images, vae.imageChannels);
  const z = await vae.encode(data, { batch: images.length, ...size }, mode);
  const f = model.config.vaeScaleFactor;
  const result = { latents: z, height: size.height / f, width: size.width / f };
  if (options.scaled === false) return result;
  const { scalingFactor, shiftFactor } = model.config;
  for (let i = 0; i < z.length; i++) z[i] = (z[i] - shiftFactor) * scalingFactor;
  return result;
}

/** Images for UNet-space latents [batch, latentChannels, h, w]: z / scaling + shift, VAE decode, to [0, 1]. */
export async function decodeLatents(
  model: DiffusionModel,
  latents: Float32Array,
  dims: { batch: number; height: number; width: number },
): Promise<ChwImage[]> {
  const { scalingFactor, shiftFactor, latentChannels } = model.config;
  const z = Float32Array.from(latents, (v) => v / scalingFactor + shiftFactor);
  const decoded = await model.vaeDecoder.decode(z, { ...dims, channels: latentChannels });
  return batchToImages(decoded.data, decoded.dims);
}

/** The PNG of a generated image (8-bit, clamped), via shared/data. */
export function toPng(generated: GeneratedImage | ChwImage): Promise<Uint8Array> {
  const image = "image" in generated ? generated.image : generated;
  return encodePng(image.data, image);
}
