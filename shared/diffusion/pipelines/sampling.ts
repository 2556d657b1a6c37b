import { sampleNoise } from "../../random/index.js";
import type { DiffusionModel } from "../models/index.js";
import type { SampleKey } from "../noise.js";
import type { Scheduler, SchedulerName, SchedulerPlan } from "../schedulers/index.js";
import type { RunOptions } from "./types.js";

/** Scheduler, steps and guidance shared by the sampling pipelines. */
export interface SamplingOptions extends RunOptions {
  /**
   * The scheduler (default: the pipeline's — DPM-Solver++ for Stable Diffusion pipelines, as the paper's
   * generation runs — built from the folder's scheduler config).
   */
  readonly scheduler?: Scheduler;
  /** Inference steps of the full plan (default 25). */
  readonly steps?: number;
  /** Classifier-free guidance scale (default 7.5, diffusers' default); ≤ 1 runs without guidance. */
  readonly guidanceScale?: number;
  /** DDIM's η (default 0). */
  readonly eta?: number;
}

/** Defaults of {@link SamplingOptions}. */
export const SAMPLING_DEFAULTS = Object.freeze({ steps: 25, guidanceScale: 7.5 });

/** The plan a pipeline runs: the caller's scheduler or `fallback` from the folder's config, at `steps`. */
export function samplingPlan(
  model: DiffusionModel,
  options: SamplingOptions,
  fallback: SchedulerName = "DPMSolverMultistepScheduler",
): SchedulerPlan {
  const scheduler = options.scheduler ?? model.scheduler(fallback);
  return scheduler.setTimesteps(options.steps ?? SAMPLING_DEFAULTS.steps);
}

/**
 * Per-sample standard normal noise, batch-major: sample k gets `sampleNoise(seed, index, size)`, whatever
 * batch it runs in; multiplied by `scale` (the plan's `initNoiseSigma` for initial latents).
 */
export function batchNoise(keys: readonly SampleKey[], size: number, scale = 1): Float32Array {
  const out = new Float32Array(keys.length * size);
  keys.forEach((key, k) => {
    const noise = sampleNoise(key.seed, key.index, size);
    if (scale !== 1) for (let i = 0; i < size; i++) noise[i] *= scale;
    out.set(noise, k * size);
  });
  return out;
}

/** Throws unless every element of `values` equals the first one (requests batched together must agree). */
export function checkUniform<T>(values: readonly T[], what: string): T {
  for (const v of values)
    if (v !== values[0]) throw new RangeError(`requests of one batch must share ${what}`);
  return values[0];
}
