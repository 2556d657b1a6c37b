import { readConfig, validateConfig } from "./config.js";
import { DDIM_FIELDS, type DdimConfig } from "./ddim.js";
import { NoiseSchedule } from "./noise-schedule.js";
import {
  checkState,
  checkStepInputs,
  PlanState,
  type Scheduler,
  type SchedulerPlan,
  type StepOptions,
  type StepResult,
} from "./plan.js";
import { predictionCoefficients } from "./prediction.js";
import { inverseTimesteps, type StrengthSchedule, timestepsForStrength } from "./timesteps.js";

/** Configuration of {@link DDIMInverseScheduler}: the DDIM fields (spacing leading or trailing). */
export type DdimInverseConfig = DdimConfig;

/** diffusers' `DDIMInverseScheduler` defaults. */
export const DDIM_INVERSE_DEFAULTS: DdimInverseConfig = Object.freeze({
  numTrainTimesteps: 1000,
  betaStart: 0.0001,
  betaEnd: 0.02,
  betaSchedule: "linear",
  trainedBetas: null,
  rescaleBetasZeroSnr: false,
  predictionType: "epsilon",
  timestepSpacing: "leading",
  stepsOffset: 0,
  clipSample: true,
  clipSampleRange: 1,
  setAlphaToOne: true,
});

/**
 * Deterministic DDIM inversion (diffusers `DDIMInverseScheduler`): runs the DDIM ODE forward, from a clean
 * latent to noise. Timesteps ascend; the step at timestep t goes from t − ⌊T/n⌋ (ᾱ = 1 or ᾱ₀ before the first
 * step, per `setAlphaToOne`) to t, using the model output evaluated at t.
 */
export class DDIMInverseScheduler implements Scheduler {
  static readonly className = "DDIMInverseScheduler";
  readonly config: DdimInverseConfig;
  readonly schedule: NoiseSchedule;
  /** ᾱ before the first step (`initial_alpha_cumprod`). */
  readonly initialAlphaCumprod: number;

  constructor(config: Partial<DdimInverseConfig> = {}) {
    const merged = { ...DDIM_INVERSE_DEFAULTS, ...config };
    if (merged.timestepSpacing === "linspace") {
      throw new RangeError(
        "DDIMInverseScheduler supports timestep_spacing leading or trailing, not linspace",
      );
    }
    this.config = validateConfig(DDIMInverseScheduler.className, merged, DDIM_FIELDS);
    this.schedule = new NoiseSchedule(this.config);
    this.initialAlphaCumprod = this.config.setAlphaToOne ? 1 : this.schedule.alphasCumprod[0];
    Object.freeze(this);
  }

  /** Builds the scheduler from a diffusers `scheduler_config.json` object (any scheduler class's). */
  static fromConfig(json: unknown): DDIMInverseScheduler {
    return new DDIMInverseScheduler(
      readConfig(DDIMInverseScheduler.className, DDIM_INVERSE_DEFAULTS, DDIM_FIELDS, json),
    );
  }

  setTimesteps(numInferenceSteps: number): DdimInversePlan {
    return new DdimInversePlan(this, numInferenceSteps);
  }
}

/** A {@link DDIMInverseScheduler} bound to a number of steps. */
export class DdimInversePlan implements SchedulerPlan<PlanState> {
  readonly scheduler: DDIMInverseScheduler;
  readonly numInferenceSteps: number;
  readonly timesteps: readonly number[];
  readonly order = 1;
  readonly initNoiseSigma = 1;

  constructor(scheduler: DDIMInverseScheduler, numInferenceSteps: number) {
    const { config } = scheduler;
    this.scheduler = scheduler;
    this.numInferenceSteps = numInferenceSteps;
    this.timesteps = Object.freeze(
      inverseTimesteps(
        config.timestepSpacing,
        numInferenceSteps,
        config.numTrainTimesteps,
        config.stepsOffset,
      ),
    );
    Object.freeze(this);
  }

  start(startIndex = 0): PlanState {
    return new PlanState(this, this.timesteps, startIndex);
  }

  scaleModelInput(sample: Float32Array, _timestep: number): Float32Array {
    return sample;
  }

  /** One inversion step to `state.timestep`. Deterministic; `options` is ignored. */
  step(
    state: PlanState,
    modelOutput: Float32Array,
    sample: Float32Array,
    _options?: StepOptions,
  ): StepResult<PlanState> {
    checkState(this, state);
    const length = checkStepInputs(modelOutput, sample);
    const { config, schedule, initialAlphaCumprod } = this.scheduler;
    const target = state.timestep;
    const source = Math.min(
      target - Math.floor(config.numTrainTimesteps / this.numInferenceSteps),
      config.numTrainTimesteps - 1,
    );
    const alphaProd = source >= 0 ? schedule.alphaCumprod(source) : initialAlphaCumprod;
    const alphaProdNext = schedule.alphaCumprod(target);
    const k = predictionCoefficients(config.predictionType, alphaProd);
    const clip = config.clipSample ? config.clipSampleRange : Number.POSITIVE_INFINITY;
    const sqrtAlphaNext = Math.sqrt(alphaProdNext);
    const direction = Math.sqrt(1 - alphaProdNext);

    const next = new Float32Array(length);
    const x0 = new Float32Array(length);
    for (let i = 0; i < length; i++) {
      const x = sample[i];
      const m = modelOutput[i];
      let predX0 = k.x0Sample * x + k.x0Model * m;
      if (predX0 > clip) predX0 = clip;
      else if (predX0 < -clip) predX0 = -clip;
      next[i] = sqrtAlphaNext * predX0 + direction * (k.epsSample * x + k.epsModel * m);
      x0[i] = predX0;
    }
    return { prevSample: next, predOriginalSample: x0, state: this.start(state.stepIndex + 1) };
  }

  /** The forward process x_t = √ᾱ_t·x₀ + √(1−ᾱ_t)·ε (diffusers' DDIMInverseScheduler has none; DDIM's). */
  addNoise(original: Float32Array, noise: Float32Array, timesteps: number | readonly number[]): Float32Array {
    return this.scheduler.schedule.addNoise(original, noise, timesteps);
  }

  /**
   * Partial inversion: the first ⌊n·strength⌋ steps of the ascending plan (the inverse of img2img's
   * `get_timesteps`, which keeps the last ones of a descending plan).
   */
  timestepsForStrength(strength: number): StrengthSchedule {
    const forward = timestepsForStrength(this.timesteps, this.numInferenceSteps, strength, this.order);
    return Object.freeze({
      startIndex: 0,
      timesteps: Object.freeze(this.timesteps.slice(0, forward.timesteps.length)),
      numInferenceSteps: forward.numInferenceSteps,
    });
  }
}
