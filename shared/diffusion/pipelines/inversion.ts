import { createHash } from "node:crypto";
import type { ChwImage } from "../mixing/index.js";
import type { DiffusionModel } from "../models/index.js";
import { DDIMInverseScheduler, type Scheduler } from "../schedulers/index.js";
import { encodeGuidedPrompts } from "./conditioning.js";
import { denoise } from "./denoise.js";
import { encodeImages } from "./images.js";
import { guidedPredictor } from "./predictors.js";
import { checkUniform } from "./sampling.js";
import type { RunOptions } from "./types.js";

/** A DDIM-inverted latent x_T of one image (UNet space, [channels, height, width]). */
export interface InvertedLatent {
  readonly latent: Float32Array;
  readonly channels: number;
  readonly height: number;
  readonly width: number;
}

/** One image to invert with the prompt that describes it ("a photo of a <class> bird"). */
export interface InversionRequest {
  readonly image: ChwImage;
  readonly prompt: string;
}

/** Where inverted latents are kept between calls (Diff-II inverts every training image once). */
export interface InversionCache {
  get(key: string): InvertedLatent | undefined;
  set(key: string, value: InvertedLatent): void;
}

/** An in-memory LRU {@link InversionCache}. */
export class MemoryInversionCache implements InversionCache {
  readonly maxEntries: number;
  readonly #entries = new Map<string, InvertedLatent>();

  constructor(maxEntries = 4096) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1)
      throw new RangeError("maxEntries must be a positive integer");
    this.maxEntries = maxEntries;
  }

  get size(): number {
    return this.#entries.size;
  }

  get(key: string): InvertedLatent | undefined {
    const hit = this.#entries.get(key);
    if (hit) {
      this.#entries.delete(key);
      this.#entries.set(key, hit);
    }
    return hit;
  }

  set(key: string, value: InvertedLatent): void {
    this.#entries.delete(key);
    this.#entries.set(key, value);
    while (this.#entries.size > this.maxEntries)
      this.#entries.delete(this.#entries.keys().next().value as string);
  }
}

/** Options of {@link invertImages}. */
export interface InversionOptions extends RunOptions {
  /** Inversion steps (default 200, Diff-II's). */
  readonly steps?: number;
  /** Default: `DDIMInverseScheduler` from the folder's scheduler config. */
  readonly scheduler?: Scheduler;
  readonly cache?: InversionCache;
}

/** Diff-II's inversion steps. */
export const DIFF_II_INVERSION_STEPS = 200;

/**
 * The cache key of an inversion: SHA-256 over the model fingerprint (folder + adapters), the scheduler config,
 * the steps, the prompt and the image (shape and float bytes).
 */
export function inversionKey(
  model: DiffusionModel,
  request: InversionRequest,
  steps: number,
  scheduler: Scheduler,
): string {
  const { image } = request;
  return createHash("sha256")
    .update(
      JSON.stringify([
        model.fingerprint,
        scheduler.config,
        steps,
        request.prompt,
        image.channels,
        image.height,
        image.width,
      ]),
    )
    .update(new Uint8Array(image.data.buffer, image.data.byteOffset, image.data.byteLength))
    .digest("hex");
}

/**
 * DDIM inversion of real images (Diff-II): the VAE latent's mean (deterministic, so the cache is exact) run
 * forward through `DDIMInverseScheduler` to x_T with the image's prompt at CFG 1 (the UNet on the prompt
 * alone). Results come from `options.cache` when present there; misses are inverted in one batch.
 */
export async function invertImages(
  model: DiffusionModel,
  requests: readonly InversionRequest[],
  options: InversionOptions = {},
): Promise<InvertedLatent[]> {
  options.signal?.throwIfAborted();
  const steps = options.steps ?? DIFF_II_INVERSION_STEPS;
  const scheduler = options.scheduler ?? DDIMInverseScheduler.fromConfig(model.schedulerConfig);
  const keys = requests.map((r) => inversionKey(model, r, steps, scheduler));
  const results: (InvertedLatent | undefined)[] = keys.map((k) => options.cache?.get(k));
  const misses = requests.map((_, i) => i).filter((i) => !results[i]);
  if (misses.length > 0) {
    const todo = misses.map((i) => requests[i]);
    checkUniform(
      todo.map((r) => `${r.image.height}×${r.image.width}`),
      "one image size",
    );
    const encoded = await encodeImages(
      model,
      todo.map((r) => r.image),
      { kind: "mean" },
    );
    const dims = {
      batch: todo.length,
      channels: model.config.latentChannels,
      height: encoded.height,
      width: encoded.width,
    };
    const conditioning = await encodeGuidedPrompts(
      model,
      todo.map((r) => r.prompt),
      [],
      1,
    );
    const inverted = await denoise({
      ...options,
      stage: "invert",
      plan: scheduler.setTimesteps(steps),
      latents: encoded.latents,
      keys: todo.map((_, index) => ({ seed: 0, index })),
      predict: guidedPredictor(model, dims, conditioning),
    });
    const size = dims.channels * dims.height * dims.width;
    misses.forEach((i, k) => {
      const value: InvertedLatent = {
        latent: inverted.slice(k * size, (k + 1) * size),
        channels: dims.channels,
        height: dims.height,
        width: dims.width,
      };
      results[i] = value;
      options.cache?.set(keys[i], value);
    });
  }
  return results as InvertedLatent[];
}
