import { flipHorizontal, type ImageSet, imageAt, imageCount, resizeImageSet } from "../data/index.js";
import type { ChwImage } from "../diffusion/mixing/index.js";
import type { DiffusionModel } from "../diffusion/models/index.js";
import { encodeImages } from "../diffusion/pipelines/index.js";

/** Training images as UNet-space latents, encoded once. */
export interface TrainingExamples {
  /** [count·(flipped ? 2 : 1), channels, height, width]: the images, then their mirror images. */
  readonly latents: Float32Array;
  /** Class of each image. */
  readonly labels: Int32Array;
  readonly count: number;
  /** Whether `latents` also holds the horizontally flipped images (at index count + i). */
  readonly flipped: boolean;
  readonly channels: number;
  readonly height: number;
  readonly width: number;
}

const ENCODE_BATCH = 32;

/**
 * Encodes a labelled image set with the model's VAE encoder (the latent distribution's mean, then
 * (z − shift)·scaling_factor), resized (bilinear) to `resolution`² first. With `flip`, the mirror images are
 * encoded too, so a random flip per step costs nothing (diffusers' TI flips with p = 0.5).
 */
export async function encodeTrainingImages(
  model: DiffusionModel,
  images: ImageSet,
  options: { resolution: number; flip: boolean; signal?: AbortSignal },
): Promise<TrainingExamples> {
  const set = resizeImageSet(images, options.resolution, options.resolution);
  const count = imageCount(set);
  if (count === 0) throw new Error("no training images");
  const shape = { channels: set.channels, height: set.height, width: set.width };
  const all: ChwImage[] = [];
  for (let i = 0; i < count; i++) all.push({ ...shape, data: imageAt(set, i) });
  if (options.flip) {
    for (let i = 0; i < count; i++) {
      const data = flipHorizontal(imageAt(set, i), shape, new Float32Array(imageAt(set, i).length));
      all.push({ ...shape, data });
    }
  }
  const chunks: Float32Array[] = [];
  let dims = { height: 0, width: 0 };
  for (let at = 0; at < all.length; at += ENCODE_BATCH) {
    options.signal?.throwIfAborted();
    const encoded = await encodeImages(model, all.slice(at, at + ENCODE_BATCH), { kind: "mean" });
    chunks.push(encoded.latents);
    dims = { height: encoded.height, width: encoded.width };
  }
  const latents = new Float32Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    latents.set(c, at);
    at += c.length;
  }
  return {
    latents,
    labels: Int32Array.from(set.labels),
    count,
    flipped: options.flip,
    channels: model.config.latentChannels,
    ...dims,
  };
}
