import type { ChwImage } from "../mixing/index.js";
import type { SampleKey } from "../noise.js";

/** A class label as the caller names it (index or name). */
export type Label = number | string;

/** Progress of a run, reported after every denoising (or inversion) step. */
export interface StepProgress {
  /** Which part of the run: "denoise", "invert", "perturb". */
  readonly stage: string;
  /** Steps done in this stage (1-based after the first step). */
  readonly step: number;
  /** Steps this stage runs. */
  readonly totalSteps: number;
  /** The training timestep of the step just run. */
  readonly timestep: number;
}

/** Cancellation and progress for one pipeline call. */
export interface RunOptions {
  /** Checked before every step; an aborted signal rejects the call with the signal's reason. */
  readonly signal?: AbortSignal;
  /** Called after every step. */
  readonly onProgress?: (progress: StepProgress) => void;
}

/** One sample's identity: its request seed and its index in the request (see {@link SampleKey}). */
export interface SampleRequest {
  readonly seed: number;
  readonly index: number;
}

/** A generated image with what a caller needs to label and reproduce it. */
export interface GeneratedImage {
  /** CHW float image, values in [0, 1] (the VAE's channels: 3). */
  readonly image: ChwImage;
  readonly key: SampleKey;
  /** The prompt (or instruction) the image was generated with. */
  readonly prompt: string;
  /** The class of the source (img2img) or of the prompt (text-to-image), when the request named one. */
  readonly label?: Label;
  /** Inter-class img2img: the class of the prompt; with `strength` the caller builds the soft label. */
  readonly targetLabel?: Label;
  /** img2img strength used (absent for methods without one). */
  readonly strength?: number;
}

/** The key of a request. */
export function keyOf(request: SampleRequest): SampleKey {
  return { seed: request.seed, index: request.index };
}
