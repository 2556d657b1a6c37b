import {
  applyChannelPerturbation,
  channelPerturbationGradient,
  projectLinfBall,
  randomChannelPerturbation,
  signGradientStep,
} from "../latents/index.js";
import type { DiffusionModel } from "../models/index.js";
import { NoisePurpose, type SampleKey, sampleRng } from "../noise.js";
import type { GifScoringModel } from "./gif-scorer.js";
import { decodeLatents } from "./images.js";
import {
  DEFAULT_STRENGTH,
  type Img2ImgOptions,
  type Img2ImgRequest,
  img2imgLatents,
  img2imgResult,
} from "./img2img.js";
import type { GeneratedImage } from "./types.js";
import { keyOf } from "./types.js";

/** One GIF sample: an img2img request plus what the guidance needs. */
export interface GifRequest extends Img2ImgRequest {
  /** Samples of one group (the variants of one source image) are pushed apart by the diversity term. */
  readonly group?: number | string;
  /** The scorer class to maintain; default: the scorer's prediction on the unperturbed latents (GIF's). */
  readonly scorerClass?: number;
}

/** Options of {@link gif}. */
export interface GifOptions extends Img2ImgOptions {
  /** The scorer bound to this model (reuse it across calls: it caches its sessions). */
  readonly scoring: GifScoringModel;
  /** L∞ radius around the img2img latents (GIF's `constraint_value`; default 0.8). */
  readonly epsilon?: number;
  /** Sign-gradient step on the perturbation parameters (default 0.1). */
  readonly stepSize?: number;
}

/** A GIF result with the scorer's view of it. */
export interface GifImage extends GeneratedImage {
  /** The class that was maintained. */
  readonly scorerClass: number;
  /** Objective at the random initial perturbation and after the guided step (before projection). */
  readonly objective: { readonly initial: number; readonly guided: number };
}

/** GIF's defaults. */
export const GIF_DEFAULTS = Object.freeze({ epsilon: 0.8, stepSize: 0.1 });

/** GIF's prompt parts (natural images): "{domain} {adjective} {class}". */
export const GIF_DOMAINS: readonly string[] = Object.freeze([
  "an image of",
  "a real-world photo of",
  "a cartoon image of",
  "an oil painting of",
  "a sketch of",
]);
export const GIF_ADJECTIVES: readonly string[] = Object.freeze([
  "",
  "colorful",
  "stylized",
  "high-contrast",
  "low-contrast",
  "posterized",
  "solarized",
  "sheared",
  "bright",
  "dark",
]);

/** A sample's GIF prompt, domain and adjective drawn from its own stream. */
export function drawGifPrompt(key: SampleKey, className: string): string {
  const rng = sampleRng(key, NoisePurpose.promptChoice);
  const domain = GIF_DOMAINS[rng.nextInt(GIF_DOMAINS.length)];
  const adjective = GIF_ADJECTIVES[rng.nextInt(GIF_ADJECTIVES.length)];
  return [domain, adjective, className].filter(Boolean).join(" ");
}

function argmax(values: Float32Array, start: number, length: number): number {
  let best = 0;
  for (let k = 1; k < length; k++) if (values[start + k] > values[start + best]) best = k;
  return best;
}

/**
 * GIF (guided imagination): img2img latents z; a random channel-wise perturbation z' = z·(1 + m) + b (per
 * sample, from its own stream); one sign-gradient ascent step of size 0.1 on (m, b) for the CLIP-based
 * objective (entropy increase + log-probability of the maintained class + diversity within the group), the
 * gradient taken through the VAE decoder and the image encoder by the engine's autodiff; the re-perturbed
 * latents projected into the L∞ ball of radius ε around z; VAE decoding. Apart from the diversity term, which
 * couples the samples of a group, a sample's result does not depend on its batch.
 */
export async function gif(
  model: DiffusionModel,
  requests: readonly GifRequest[],
  options: GifOptions,
): Promise<GifImage[]> {
  if (requests.length === 0) return [];
  if (options.scoring.model !== model) throw new Error("the scorer is bound to another model");
  const strength = options.strength ?? DEFAULT_STRENGTH;
  const { latents, dims } = await img2imgLatents(model, requests, options);
  options.signal?.throwIfAborted();
  const keys = requests.map(keyOf);
  const K = options.scoring.scorer.numClasses;
  const groups = requests.map((r, i) => r.group ?? `sample-${i}`);
  const original = await options.scoring.score(
    latents,
    dims,
    { classes: requests.map(() => 0), baseEntropy: new Float32Array(requests.length), groups },
    false,
  );
  const classes = requests.map((r, i) => r.scorerClass ?? argmax(original.probs, i * K, K));
  const targets = { classes, baseEntropy: original.entropy, groups };
  const initial = randomChannelPerturbation(keys, dims.channels);
  const perturbed = applyChannelPerturbation(latents, dims, initial);
  options.signal?.throwIfAborted();
  const scored = await options.scoring.score(perturbed, dims, targets, true);
  if (!scored.gradient) throw new Error("the scorer returned no gradient");
  const step = signGradientStep(
    initial,
    channelPerturbationGradient(latents, scored.gradient, dims),
    options.stepSize ?? GIF_DEFAULTS.stepSize,
  );
  const guided = applyChannelPerturbation(latents, dims, step);
  const after = await options.scoring.score(guided, dims, targets, false);
  const final = projectLinfBall(guided, latents, options.epsilon ?? GIF_DEFAULTS.epsilon);
  options.onProgress?.({ stage: "perturb", step: 1, totalSteps: 1, timestep: Number.NaN });
  const images = await decodeLatents(model, final, dims);
  return requests.map((r, i) => ({
    ...img2imgResult(r, images[i], strength),
    scorerClass: classes[i],
    objective: { initial: scored.objective[i], guided: after.objective[i] },
  }));
}
