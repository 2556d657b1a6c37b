import { resizeChw } from "../../data/index.js";
import { type ChwImage, fractalBlend, halfConcat, randomOrientation } from "../mixing/index.js";
import type { DiffusionModel } from "../models/index.js";
import { NoisePurpose, type SampleKey, sampleRng } from "../noise.js";
import {
  type InstructPix2PixOptions,
  type InstructPix2PixRequest,
  instructPix2Pix,
} from "./instruct-pix2pix.js";
import type { GeneratedImage } from "./types.js";

/** DiffuseMix's nine style instructions ("A transformed version of image into …"). */
export const DIFFUSEMIX_PROMPTS: readonly string[] = Object.freeze(
  [
    "autumn",
    "snowy",
    "watercolor art",
    "sunset",
    "rainbow",
    "aurora",
    "mosaic",
    "ukiyo-e",
    "a sketch with crayon",
  ].map((style) => `A transformed version of image into ${style}`),
);

/** DiffuseMix's settings beside the edit: 256 px, Euler ancestral, 100 steps, guidance 4. */
export const DIFFUSEMIX_DEFAULTS = Object.freeze({
  steps: 100,
  guidanceScale: 4,
  blendWidth: 20,
  alpha: 0.2,
});

/** A sample's style instruction, uniform over `prompts`, from its own random stream. */
export function drawDiffuseMixPrompt(
  key: SampleKey,
  prompts: readonly string[] = DIFFUSEMIX_PROMPTS,
): string {
  if (prompts.length === 0) throw new RangeError("no prompts to draw from");
  return prompts[sampleRng(key, NoisePurpose.promptChoice).nextInt(prompts.length)];
}

/** Options of DiffuseMix's mixing step. */
export interface DiffuseMixMixing {
  /** Fractal images to blend with (any size; resized bilinearly, grayscale repeated). */
  readonly fractals: readonly ChwImage[];
  /** Width of the linear seam of the half-and-half concatenation (default 20 px). */
  readonly blendWidth?: number;
  /** Fractal blending weight (default 0.2). */
  readonly alpha?: number;
}

function withChannels(image: ChwImage, channels: number): ChwImage {
  if (image.channels === channels) return image;
  if (image.channels !== 1) throw new RangeError(`cannot turn ${image.channels} channels into ${channels}`);
  const plane = image.height * image.width;
  const data = new Float32Array(channels * plane);
  for (let c = 0; c < channels; c++) data.set(image.data, c * plane);
  return { ...image, data, channels };
}

function fitted(image: ChwImage, like: ChwImage): ChwImage {
  const channelled = withChannels(image, like.channels);
  if (channelled.height === like.height && channelled.width === like.width) return channelled;
  const data = resizeChw(channelled.data, channelled, like.height, like.width);
  return { data, channels: like.channels, height: like.height, width: like.width };
}

/**
 * DiffuseMix's mixing of one sample: the original and its edit concatenated half-and-half (orientation drawn
 * from the sample's stream, linear seam), then alpha-blended with a fractal drawn from the same stream.
 */
export function diffuseMixImage(
  original: ChwImage,
  edited: ChwImage,
  key: SampleKey,
  mixing: DiffuseMixMixing,
): ChwImage {
  if (mixing.fractals.length === 0) throw new RangeError("DiffuseMix needs at least one fractal image");
  const base = fitted(original, edited);
  const mixed = halfConcat(
    base,
    edited,
    randomOrientation(key),
    mixing.blendWidth ?? DIFFUSEMIX_DEFAULTS.blendWidth,
  );
  const fractal = mixing.fractals[sampleRng(key, NoisePurpose.fractal).nextInt(mixing.fractals.length)];
  return fractalBlend(mixed, fitted(fractal, mixed), mixing.alpha ?? DIFFUSEMIX_DEFAULTS.alpha);
}

/**
 * DiffuseMix: an InstructPix2Pix edit of each image (DiffuseMix's defaults: 100 steps, guidance 4), then
 * {@link diffuseMixImage}. Results are the mixed images.
 */
export async function diffuseMix(
  model: DiffusionModel,
  requests: readonly InstructPix2PixRequest[],
  options: InstructPix2PixOptions & DiffuseMixMixing,
): Promise<GeneratedImage[]> {
  const edited = await instructPix2Pix(model, requests, {
    steps: DIFFUSEMIX_DEFAULTS.steps,
    guidanceScale: DIFFUSEMIX_DEFAULTS.guidanceScale,
    ...options,
  });
  return edited.map((g, i) => ({ ...g, image: diffuseMixImage(requests[i].image, g.image, g.key, options) }));
}
