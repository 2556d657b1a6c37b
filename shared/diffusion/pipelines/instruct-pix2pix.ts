import type { ChwImage } from "../mixing/index.js";
import type { DiffusionModel } from "../models/index.js";
import { concatRows, encodePrompts, rows } from "./conditioning.js";
import { denoise } from "./denoise.js";
import { decodeLatents, encodeImages } from "./images.js";
import { instructPix2PixPredictor } from "./predictors.js";
import { batchNoise, checkUniform, SAMPLING_DEFAULTS, type SamplingOptions } from "./sampling.js";
import { type GeneratedImage, keyOf, type Label, type SampleRequest } from "./types.js";

/** One instruction edit. */
export interface InstructPix2PixRequest extends SampleRequest {
  /** CHW in [0, 1]; the output has its size. */
  readonly image: ChwImage;
  /** The edit instruction ("make it snowy"). */
  readonly instruction: string;
  readonly negativePrompt?: string;
  readonly label?: Label;
}

/** Options of {@link instructPix2Pix}. */
export interface InstructPix2PixOptions extends SamplingOptions {
  /** Image guidance s_I (default 1.5, diffusers'). */
  readonly imageGuidanceScale?: number;
}

/** diffusers' InstructPix2Pix defaults: Euler ancestral, 100 steps, text guidance 7.5, image guidance 1.5. */
export const INSTRUCT_PIX2PIX_DEFAULTS = Object.freeze({
  steps: 100,
  guidanceScale: 7.5,
  imageGuidanceScale: 1.5,
});

/**
 * InstructPix2Pix (diffusers `StableDiffusionInstructPix2PixPipeline`): text-to-image with an image-conditioned
 * UNet. The source's VAE latent (the distribution's mode, unscaled, as diffusers feeds it) is concatenated to
 * the noisy latent on the channel axis (8 channels for SD); with guidance (s_T > 1 and s_I ≥ 1) the UNet runs at
 * batch 3B on [text; image; uncond] and ε = ε_u + s_T(ε_text − ε_image) + s_I(ε_image − ε_u). Euler ancestral by
 * default, its noise keyed per sample.
 */
export async function instructPix2Pix(
  model: DiffusionModel,
  requests: readonly InstructPix2PixRequest[],
  options: InstructPix2PixOptions = {},
): Promise<GeneratedImage[]> {
  if (requests.length === 0) return [];
  options.signal?.throwIfAborted();
  const { latentChannels, unetInChannels } = model.config;
  if (unetInChannels !== 2 * latentChannels) {
    throw new Error(
      `InstructPix2Pix needs a UNet taking ${2 * latentChannels} channels; this one takes ${unetInChannels}`,
    );
  }
  checkUniform(
    requests.map((r) => `${r.image.height}×${r.image.width}`),
    "one image size",
  );
  const scheduler = options.scheduler ?? model.scheduler("EulerAncestralDiscreteScheduler");
  const plan = scheduler.setTimesteps(options.steps ?? INSTRUCT_PIX2PIX_DEFAULTS.steps);
  const guidanceScale = options.guidanceScale ?? SAMPLING_DEFAULTS.guidanceScale;
  const imageGuidanceScale = options.imageGuidanceScale ?? INSTRUCT_PIX2PIX_DEFAULTS.imageGuidanceScale;
  const guided = guidanceScale > 1 && imageGuidanceScale >= 1;
  const n = requests.length;
  const keys = requests.map(keyOf);
  const image = await encodeImages(
    model,
    requests.map((r) => r.image),
    { kind: "mean" },
    { scaled: false },
  );
  const dims = { batch: n, channels: latentChannels, height: image.height, width: image.width };
  const texts = await encodePrompts(model, [
    ...requests.map((r) => r.instruction),
    ...(guided ? requests.map((r) => r.negativePrompt ?? "") : []),
  ]);
  const states = guided ? concatRows(rows(texts, 0, n), rows(texts, n, 2 * n), rows(texts, n, 2 * n)) : texts;
  const latents = await denoise({
    ...options,
    plan,
    latents: batchNoise(keys, latentChannels * image.height * image.width, plan.initNoiseSigma),
    keys,
    predict: instructPix2PixPredictor(model, dims, states, image.latents, {
      guided,
      guidanceScale,
      imageGuidanceScale,
    }),
  });
  const images = await decodeLatents(model, latents, dims);
  return requests.map((r, i) => ({ image: images[i], key: keys[i], prompt: r.instruction, label: r.label }));
}
