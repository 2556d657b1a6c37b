import type { NoiseInput } from "../noise.js";
import type { NoiseScheduleConfig } from "./config.js";
import type { NoiseSchedule } from "./noise-schedule.js";
import type { StrengthSchedule } from "./timesteps.js";

/**
 * Where a denoising run stands: which step of the plan comes next, plus any history a multistep solver keeps.
 * Immutable; every {@link SchedulerPlan.step} returns a new one. A state belongs to the plan that made it.
 */
export interface SchedulerState {
  /** Index into `plan.timesteps` of the next step. */
  readonly stepIndex: number;
  /** The training timestep the model must be evaluated at for the next step (NaN once done). */
  readonly timestep: number;
  /** True when every step of the plan has run. */
  readonly done: boolean;
}

/** Options of one scheduler step. */
export interface StepOptions {
  /**
   * Noise for stochastic steps (DDPM, DDIM with η > 0, Euler ancestral): one {seed, index} key per sample of
   * the batch, or the noise itself. Required by stochastic steps, ignored by deterministic ones.
   */
  readonly noise?: NoiseInput;
  /** DDIM only: η, the weight of fresh noise (0 = deterministic DDIM, 1 = DDPM-like). Default 0. */
  readonly eta?: number;
  /** DDIM only: recompute ε from the clipped x̂₀ (diffusers `use_clipped_model_output`). Default false. */
  readonly useClippedModelOutput?: boolean;
}

/** What one step returns. */
export interface StepResult<S extends SchedulerState = SchedulerState> {
  /** The sample at the next timestep (x_{t−1}, or x_{t+1} for inversion). */
  readonly prevSample: Float32Array;
  /** The model's estimate of the clean sample x̂₀ (absent for DPM-Solver, which does not report it). */
  readonly predOriginalSample?: Float32Array;
  /** The state for the next step. */
  readonly state: S;
}

/**
 * A scheduler bound to a number of inference steps (diffusers' scheduler after `set_timesteps`), as an
 * immutable value: safe to share between concurrent requests, because the per-run position and history live
 * in the {@link SchedulerState} the caller threads through `step`.
 *
 * ```ts
 * const plan = scheduler.setTimesteps(25);
 * let state = plan.start();
 * let x = scaled(initialNoise, plan.initNoiseSigma);
 * while (!state.done) {
 *   const eps = model(plan.scaleModelInput(x, state.timestep), state.timestep);
 *   ({ prevSample: x, state } = plan.step(state, eps, x, { noise: keys }));
 * }
 * ```
 */
export interface SchedulerPlan<S extends SchedulerState = SchedulerState> {
  /** The number of inference steps the plan was made for. */
  readonly numInferenceSteps: number;
  /** Training timesteps in the order the steps run. Frozen. */
  readonly timesteps: readonly number[];
  /** Model evaluations per timestep (1 for every scheduler here), used by {@link timestepsForStrength}. */
  readonly order: number;
  /** Standard deviation of the initial noise: initial latents are N(0, 1) noise times this. */
  readonly initNoiseSigma: number;
  /** The state before the step at `startIndex` (default 0; img2img starts later, see `timestepsForStrength`). */
  start(startIndex?: number): S;
  /**
   * Scales the model input for the step at `timestep` (identity, returning `sample` itself, except for
   * sigma-space schedulers).
   */
  scaleModelInput(sample: Float32Array, timestep: number): Float32Array;
  /** Runs one step from `state` with the model output at `state.timestep`. Does not modify its inputs. */
  step(state: S, modelOutput: Float32Array, sample: Float32Array, options?: StepOptions): StepResult<S>;
  /**
   * The forward process to `timestep` in this scheduler's parameterisation (what img2img starts from):
   * one timestep for the batch or one per sample.
   */
  addNoise(original: Float32Array, noise: Float32Array, timesteps: number | readonly number[]): Float32Array;
  /** diffusers' img2img `get_timesteps(n, strength)` on this plan. */
  timestepsForStrength(strength: number): StrengthSchedule;
}

/**
 * What every scheduler here is: a validated, frozen config and its noise schedule, and `setTimesteps(n)`
 * returning an immutable {@link SchedulerPlan}. Pipelines take this type, so any scheduler fits.
 */
export interface Scheduler {
  readonly config: NoiseScheduleConfig;
  readonly schedule: NoiseSchedule;
  setTimesteps(numInferenceSteps: number): SchedulerPlan;
}

/** Validates that model output and sample match and returns their length. */
export function checkStepInputs(modelOutput: Float32Array, sample: Float32Array): number {
  if (modelOutput.length !== sample.length) {
    throw new RangeError(`model output has ${modelOutput.length} values, sample has ${sample.length}`);
  }
  return sample.length;
}

/** The state of a single-step scheduler: only the position in the plan. */
export class PlanState implements SchedulerState {
  readonly stepIndex: number;
  readonly timestep: number;
  readonly done: boolean;
  /** The plan this state belongs to. */
  readonly owner: object;

  constructor(owner: object, timesteps: readonly number[], stepIndex: number) {
    if (!Number.isInteger(stepIndex) || stepIndex < 0 || stepIndex > timesteps.length) {
      throw new RangeError(`step index must be an integer in [0, ${timesteps.length}], got ${stepIndex}`);
    }
    this.owner = owner;
    this.stepIndex = stepIndex;
    this.done = stepIndex === timesteps.length;
    this.timestep = this.done ? Number.NaN : timesteps[stepIndex];
  }
}

/** Throws unless `state` was made by `owner` and has a step left to run. */
export function checkState(owner: object, state: PlanState): void {
  if (!(state instanceof PlanState) || state.owner !== owner) {
    throw new TypeError("this state was not made by this plan (call plan.start() on the same plan)");
  }
  if (state.done) throw new RangeError("every step of this plan has already run");
}

/**
 * Index of `timestep` in a plan's timesteps, as diffusers' `index_for_timestep`: the first match, or the
 * second when the timestep repeats (so that img2img starting at a repeated timestep does not skip a sigma).
 */
export function indexForTimestep(timesteps: readonly number[], timestep: number): number {
  const first = timesteps.indexOf(timestep);
  if (first < 0) throw new RangeError(`timestep ${timestep} is not one of this plan's timesteps`);
  const second = timesteps.indexOf(timestep, first + 1);
  return second < 0 ? first : second;
}
