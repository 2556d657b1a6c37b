import type { DiffusionModel } from "../models/index.js";
import { encodeGuidedPrompts } from "./conditioning.js";
import { denoise } from "./denoise.js";
import { decodeLatents } from "./images.js";
import { guidedPredictor } from "./predictors.js";
import { batchNoise, SAMPLING_DEFAULTS, type SamplingOptions, samplingPlan } from "./sampling.js";
import { type GeneratedImage, keyOf, type Label, type SampleRequest } from "./types.js";

/** One text-to-image sample. */
export interface TextToImageRequest extends SampleRequest {
  readonly prompt: string;
  readonly negativePrompt?: string;
  /** The class the prompt depicts, passed through to the result. */
  readonly label?: Label;
}

/** Options of {@link textToImage}. */
export interface TextToImageOptions extends SamplingOptions {
  /** Image height in pixels (default: UNet sample_size × VAE factor); a multiple of the VAE factor. */
  readonly height?: number;
  readonly width?: number;
}

/** The latent size for an image size (default: the UNet's sample size). */
export function latentSize(
  model: DiffusionModel,
  options: { height?: number; width?: number },
): { height: number; width: number } {
  const f = model.config.vaeScaleFactor;
  const height = options.height ?? model.config.sampleSize * f;
  const width = options.width ?? model.config.sampleSize * f;
  if (height % f !== 0 || width % f !== 0 || height <= 0 || width <= 0) {
    throw new RangeError(`image size ${height}×${width} must be a positive multiple of ${f}`);
  }
  return { height: height / f, width: width / f };
}

/**
 * Text-to-image with classifier-free guidance (diffusers `StableDiffusionPipeline`): per-sample initial noise
 * × `initNoiseSigma`, the UNet at batch 2B on `[uncond; cond]`, the plan's steps, VAE decode. A sample's image
 * depends only on its seed, index and prompt, not on the batch it runs in.
 */
export async function textToImage(
  model: DiffusionModel,
  requests: readonly TextToImageRequest[],
  options: TextToImageOptions = {},
): Promise<GeneratedImage[]> {
  if (requests.length === 0) return [];
  options.signal?.throwIfAborted();
  const plan = samplingPlan(model, options);
  const { height, width } = latentSize(model, options);
  const dims = { batch: requests.length, channels: model.config.latentChannels, height, width };
  const keys = requests.map(keyOf);
  const conditioning = await encodeGuidedPrompts(
    model,
    requests.map((r) => r.prompt),
    requests.map((r) => r.negativePrompt),
    options.guidanceScale ?? SAMPLING_DEFAULTS.guidanceScale,
  );
  const latents = await denoise({
    ...options,
    plan,
    latents: batchNoise(keys, dims.channels * height * width, plan.initNoiseSigma),
    keys,
    predict: guidedPredictor(model, dims, conditioning),
  });
  const images = await decodeLatents(model, latents, dims);
  return requests.map((r, i) => ({ image: images[i], key: keys[i], prompt: r.prompt, label: r.label }));
}
