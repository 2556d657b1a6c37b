import type { SampleKey } from "../noise.js";
import type { SchedulerPlan } from "../schedulers/index.js";
import type { RunOptions } from "./types.js";

/** The model call of one step: the (guided) model output for scaled latents at a timestep. */
export type Predictor = (modelInput: Float32Array, timestep: number) => Promise<Float32Array>;

/** One denoising (or inversion) run over a scheduler plan. */
export interface DenoiseRun extends RunOptions {
  readonly plan: SchedulerPlan;
  /** Index of the first step to run (img2img starts later; see `plan.timestepsForStrength`). */
  readonly startIndex?: number;
  readonly latents: Float32Array;
  /** One key per sample: step noise of stochastic schedulers is drawn from it. */
  readonly keys: readonly SampleKey[];
  readonly predict: Predictor;
  /** DDIM's η (default 0). */
  readonly eta?: number;
  /** Progress stage name (default "denoise"). */
  readonly stage?: string;
}

/**
 * The denoising loop every pipeline shares: scale the input, ask the predictor, step the plan. Checks the
 * signal before each step and reports progress after it. Holds no scheduler math (that is the plan's) and no
 * guidance (that is the predictor's).
 */
export async function denoise(run: DenoiseRun): Promise<Float32Array> {
  const { plan, predict, signal, onProgress } = run;
  let state = plan.start(run.startIndex ?? 0);
  const totalSteps = plan.timesteps.length - state.stepIndex;
  const stage = run.stage ?? "denoise";
  let x = run.latents;
  let step = 0;
  while (!state.done) {
    signal?.throwIfAborted();
    const timestep = state.timestep;
    const output = await predict(plan.scaleModelInput(x, timestep), timestep);
    ({ prevSample: x, state } = plan.step(state, output, x, { noise: run.keys, eta: run.eta }));
    step++;
    onProgress?.({ stage, step, totalSteps, timestep });
  }
  return x;
}
