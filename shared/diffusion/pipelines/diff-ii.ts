import { circleAngle, circleInterpolation } from "../latents/index.js";
import type { DiffusionModel } from "../models/index.js";
import { NoisePurpose, sampleRng } from "../noise.js";
import { concatRows, encodeGuidedPrompts, rows } from "./conditioning.js";
import { denoise } from "./denoise.js";
import { decodeLatents } from "./images.js";
import type { InvertedLatent } from "./inversion.js";
import { twoStagePredictor } from "./predictors.js";
import { checkUniform, SAMPLING_DEFAULTS, type SamplingOptions } from "./sampling.js";
import { type GeneratedImage, keyOf, type Label, type SampleRequest } from "./types.js";

/** One Diff-II sample: two inverted latents of the same class and the two prompts. */
export interface DiffIIRequest extends SampleRequest {
  /** The anchor image's inverted latent z1. */
  readonly anchor: InvertedLatent;
  /** Another image of the same class, z2. */
  readonly partner: InvertedLatent;
  /** The plain prompt ("a photo of a <class>"), used below the split timestep. */
  readonly prompt: string;
  /** The prompt with a scene suffix ("a photo of a <class> standing on a tree branch."), used above it. */
  readonly suffixPrompt: string;
  readonly negativePrompt?: string;
  readonly label?: Label;
}

/** Options of {@link diffII}. */
export interface DiffIIOptions extends SamplingOptions {
  /**
   * Diff-II's `split_ratio` (default 0.3): the suffix prompt conditions the steps with
   * t ≥ (1 − split_ratio)·T (t ≥ 700 for T = 1000), the plain prompt the rest.
   */
  readonly splitRatio?: number;
}

/** A Diff-II result: the image and the interpolation angle used. */
export interface DiffIIImage extends GeneratedImage {
  readonly angle: number;
}

/** Diff-II's defaults: DDIM, 25 steps, CFG 7.5, split ratio 0.3. */
export const DIFF_II_DEFAULTS = Object.freeze({ steps: 25, guidanceScale: 7.5, splitRatio: 0.3 });

/**
 * Diff-II (Inversion Circle Interpolation): z = circle interpolation of z1 and z2 at the sample's random angle
 * φ ~ U(0, 2π), then DDIM from z (25 steps, CFG 7.5) with two-stage prompts — the suffix prompt while
 * t ≥ (1 − splitRatio)·T, the plain prompt after. Text-to-image with a different start and a two-stage
 * predictor.
 */
export async function diffII(
  model: DiffusionModel,
  requests: readonly DiffIIRequest[],
  options: DiffIIOptions = {},
): Promise<DiffIIImage[]> {
  if (requests.length === 0) return [];
  options.signal?.throwIfAborted();
  const splitRatio = options.splitRatio ?? DIFF_II_DEFAULTS.splitRatio;
  if (!(splitRatio >= 0 && splitRatio <= 1))
    throw new RangeError(`splitRatio must be in [0, 1], got ${splitRatio}`);
  const scheduler = options.scheduler ?? model.scheduler("DDIMScheduler");
  const plan = scheduler.setTimesteps(options.steps ?? DIFF_II_DEFAULTS.steps);
  checkUniform(
    requests.flatMap((r) => [r.anchor, r.partner]).map((z) => `${z.channels}×${z.height}×${z.width}`),
    "one latent shape",
  );
  const { channels, height, width } = requests[0].anchor;
  const dims = { batch: requests.length, channels, height, width };
  if (channels !== model.config.latentChannels)
    throw new RangeError("latents do not match the model's channels");
  const keys = requests.map(keyOf);
  const size = channels * height * width;
  const latents = new Float32Array(requests.length * size);
  const angles = requests.map((r, i) => {
    const angle = circleAngle(keys[i]);
    latents.set(circleInterpolation(r.anchor.latent, r.partner.latent, angle), i * size);
    return angle;
  });
  const guidanceScale = options.guidanceScale ?? SAMPLING_DEFAULTS.guidanceScale;
  const n = requests.length;
  // One text-encoder run for both stages: [suffix prompts; plain prompts] (each with its negatives).
  const both = await encodeGuidedPrompts(
    model,
    [...requests.map((r) => r.suffixPrompt), ...requests.map((r) => r.prompt)],
    [...requests.map((r) => r.negativePrompt), ...requests.map((r) => r.negativePrompt)],
    guidanceScale,
  );
  const stage = (k: number) => {
    const pick = (offset: number) => rows(both.states, offset + k * n, offset + (k + 1) * n);
    const states = both.guided ? concatRows(pick(0), pick(2 * n)) : pick(0);
    return { ...both, states };
  };
  const threshold = (1 - splitRatio) * scheduler.config.numTrainTimesteps;
  const out = await denoise({
    ...options,
    plan,
    latents,
    keys,
    predict: twoStagePredictor(model, dims, stage(0), stage(1), threshold),
  });
  const images = await decodeLatents(model, out, dims);
  return requests.map((r, i) => ({
    image: images[i],
    key: keys[i],
    prompt: r.suffixPrompt,
    label: r.label,
    angle: angles[i],
  }));
}

/**
 * `count` distinct suffixes for an anchor image, drawn without replacement from its own random stream (Diff-II
 * draws 5 of a dataset's 10 scene phrases per image); `key` identifies the anchor (seed, image index).
 */
export function drawSuffixes(key: SampleRequest, suffixes: readonly string[], count: number): string[] {
  if (!Number.isInteger(count) || count < 0 || count > suffixes.length) {
    throw new RangeError(`cannot draw ${count} of ${suffixes.length} suffixes without replacement`);
  }
  return sampleRng(keyOf(key), NoisePurpose.promptSuffix)
    .shuffle([...suffixes])
    .slice(0, count);
}
