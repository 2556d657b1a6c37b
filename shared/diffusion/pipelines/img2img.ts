import type { ChwImage } from "../mixing/index.js";
import type { DiffusionModel, LatentDims } from "../models/index.js";
import { NoisePurpose, sampleRng } from "../noise.js";
import { encodeGuidedPrompts } from "./conditioning.js";
import { denoise } from "./denoise.js";
import { decodeLatents, encodeImages } from "./images.js";
import { guidedPredictor } from "./predictors.js";
import {
  batchNoise,
  checkUniform,
  SAMPLING_DEFAULTS,
  type SamplingOptions,
  samplingPlan,
} from "./sampling.js";
import { type GeneratedImage, keyOf, type Label, type SampleRequest } from "./types.js";

/** One img2img sample: a source image and the prompt to move it towards. */
export interface Img2ImgRequest extends SampleRequest {
  /** CHW in [0, 1]; every image of a call has the same size, a multiple of the VAE factor. */
  readonly image: ChwImage;
  readonly prompt: string;
  readonly negativePrompt?: string;
  /** Class of the source image. */
  readonly label?: Label;
  /** Class of the prompt when it differs from the source's (inter-class); defaults to `label`. */
  readonly targetLabel?: Label;
}

/** Options of {@link img2img}. */
export interface Img2ImgOptions extends SamplingOptions {
  /** SDEdit strength in [0, 1] (diffusers default 0.8): the part of the plan that runs. */
  readonly strength?: number;
}

/** diffusers' img2img default strength. */
export const DEFAULT_STRENGTH = 0.8;

/** The latents an img2img run ends with (UNet space, before VAE decoding). */
export interface Img2ImgLatents {
  readonly latents: Float32Array;
  readonly dims: LatentDims;
  /** Denoising steps that ran (0 when the strength leaves none: `latents` is then the image's own latent). */
  readonly steps: number;
}

/**
 * The denoising half of img2img, returning latents (diffusers' `output_type="latent"`): the image's VAE latent
 * (sampled with the sample's own noise stream) noised to the first kept timestep with the sample's initial
 * noise, then denoised with guidance from there. When the strength leaves no step the image latent itself is
 * returned.
 */
export async function img2imgLatents(
  model: DiffusionModel,
  requests: readonly Img2ImgRequest[],
  options: Img2ImgOptions = {},
): Promise<Img2ImgLatents> {
  options.signal?.throwIfAborted();
  const plan = samplingPlan(model, options);
  const schedule = plan.timestepsForStrength(options.strength ?? DEFAULT_STRENGTH);
  const keys = requests.map(keyOf);
  checkUniform(
    requests.map((r) => `${r.image.height}×${r.image.width}`),
    "one image size",
  );
  const encoded = await encodeImages(
    model,
    requests.map((r) => r.image),
    { kind: "sample", keys },
  );
  const dims = {
    batch: requests.length,
    channels: model.config.latentChannels,
    height: encoded.height,
    width: encoded.width,
  };
  if (schedule.timesteps.length === 0) return { latents: encoded.latents, dims, steps: 0 };
  const noise = batchNoise(keys, dims.channels * dims.height * dims.width);
  // jscpd:ignore-start (the same calls as text-to-image.ts, from a noised start)
  const conditioning = await encodeGuidedPrompts(
    model,
    requests.map((r) => r.prompt),
    requests.map((r) => r.negativePrompt),
    options.guidanceScale ?? SAMPLING_DEFAULTS.guidanceScale,
  );
  const latents = await denoise({
    ...options,
    plan,
    startIndex: schedule.startIndex,
    latents: plan.addNoise(encoded.latents, noise, schedule.timesteps[0]),
    keys,
    predict: guidedPredictor(model, dims, conditioning),
    // jscpd:ignore-end
  });
  return { latents, dims, steps: schedule.timesteps.length };
}

/** A generated image of an img2img request (labels and strength carried over). */
export function img2imgResult(request: Img2ImgRequest, image: ChwImage, strength: number): GeneratedImage {
  return {
    image,
    key: keyOf(request),
    prompt: request.prompt,
    label: request.label,
    targetLabel: request.targetLabel ?? request.label,
    strength,
  };
}

/**
 * SDEdit img2img (diffusers `StableDiffusionImg2ImgPipeline`) = text-to-image + `get_timesteps(strength)` +
 * `prepare_latents(image)`: {@link img2imgLatents}, then VAE decoding.
 *
 * Strength 0 — or any strength that leaves no step of the plan (⌊steps·strength⌋ = 0) — returns each source
 * image itself, unchanged and bit-exact, without a VAE round trip (diffusers raises for 0 steps instead; a
 * round trip would only approximate the input).
 */
export async function img2img(
  model: DiffusionModel,
  requests: readonly Img2ImgRequest[],
  options: Img2ImgOptions = {},
): Promise<GeneratedImage[]> {
  if (requests.length === 0) return [];
  options.signal?.throwIfAborted();
  const strength = options.strength ?? DEFAULT_STRENGTH;
  if (samplingPlan(model, options).timestepsForStrength(strength).timesteps.length === 0) {
    return requests.map((r) => img2imgResult(r, { ...r.image, data: r.image.data.slice() }, strength));
  }
  const { latents, dims } = await img2imgLatents(model, requests, options);
  const images = await decodeLatents(model, latents, dims);
  return requests.map((r, i) => img2imgResult(r, images[i], strength));
}

/** One inter-class sample (Diff-Mix): a source image of one class, the prompt of another. */
export interface InterClassRequest extends SampleRequest {
  readonly image: ChwImage;
  readonly sourceLabel: Label;
  readonly targetLabel: Label;
  /** The prompt of the target class ("a photo of a <B> bird"). */
  readonly prompt: string;
  readonly negativePrompt?: string;
}

/**
 * Inter-class SDEdit (Diff-Mix): img2img from a class-A image with a class-B prompt. Each result carries
 * `label` = A, `targetLabel` = B and `strength`, from which the caller builds the soft label (target weight
 * strength^γ, γ = 0.5 in Diff-Mix).
 */
export function interClassImg2Img(
  model: DiffusionModel,
  requests: readonly InterClassRequest[],
  options: Img2ImgOptions = {},
): Promise<GeneratedImage[]> {
  return img2img(
    model,
    requests.map((r) => ({ ...r, label: r.sourceLabel, targetLabel: r.targetLabel })),
    options,
  );
}

/**
 * Diff-Mix's target class for a sample: uniform over `numClasses` (the source class included), from the
 * sample's own random stream, so it does not depend on the batch.
 */
export function drawTargetClass(key: SampleRequest, numClasses: number): number {
  if (!Number.isInteger(numClasses) || numClasses < 1)
    throw new RangeError("numClasses must be a positive integer");
  return sampleRng(keyOf(key), NoisePurpose.targetClass).nextInt(numClasses);
}
