import type { TimestepSpacing } from "./config.js";
import { PlanState, type Scheduler, type SchedulerPlan, type StepOptions, type StepResult } from "./plan.js";
import { type StrengthSchedule, timestepsForStrength } from "./timesteps.js";

/** The shape of `discreteTimesteps` and `inverseTimesteps` (timesteps.ts): a plan's timesteps from the config. */
type TimestepsOf = (
  spacing: TimestepSpacing,
  numInferenceSteps: number,
  numTrainTimesteps: number,
  stepsOffset: number,
) => number[];

/**
 * What the DDIM-family plans (DDIM, DDPM, DDIM inversion) have in common, written once: integer timesteps
 * from the config's spacing, N(0, 1) initial noise, no model-input scaling and the noise schedule's forward
 * process. A subclass adds only its `step` (its update rule).
 *
 * The constructor freezes the instance, so subclasses must not declare fields of their own (a field would
 * be defined after the freeze and throw); the scheduler's type comes in through `S` instead.
 */
export abstract class DiscretePlan<S extends Scheduler> implements SchedulerPlan<PlanState> {
  readonly scheduler: S;
  readonly numInferenceSteps: number;
  readonly timesteps: readonly number[];
  readonly order = 1;
  readonly initNoiseSigma = 1;

  protected constructor(scheduler: S, numInferenceSteps: number, timestepsOf: TimestepsOf) {
    const { config } = scheduler;
    this.scheduler = scheduler;
    this.numInferenceSteps = numInferenceSteps;
    this.timesteps = Object.freeze(
      timestepsOf(config.timestepSpacing, numInferenceSteps, config.numTrainTimesteps, config.stepsOffset),
    );
    Object.freeze(this);
  }

  start(startIndex = 0): PlanState {
    return new PlanState(this, this.timesteps, startIndex);
  }

  scaleModelInput(sample: Float32Array, _timestep: number): Float32Array {
    return sample;
  }

  abstract step(
    state: PlanState,
    modelOutput: Float32Array,
    sample: Float32Array,
    options?: StepOptions,
  ): StepResult<PlanState>;

  /** The forward process x_t = √ᾱ_t·x₀ + √(1−ᾱ_t)·ε of the scheduler's noise schedule. */
  addNoise(original: Float32Array, noise: Float32Array, timesteps: number | readonly number[]): Float32Array {
    return this.scheduler.schedule.addNoise(original, noise, timesteps);
  }

  timestepsForStrength(strength: number): StrengthSchedule {
    return timestepsForStrength(this.timesteps, this.numInferenceSteps, strength, this.order);
  }
}
