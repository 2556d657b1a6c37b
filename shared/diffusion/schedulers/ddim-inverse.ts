import { readConfig, validateConfig } from "./config.js";
import { DDIM_DEFAULTS, DDIM_FIELDS, type DdimConfig } from "./ddim.js";
import { DiscretePlan } from "./discrete-plan.js";
import { NoiseSchedule } from "./noise-schedule.js";
import {
  checkState,
  checkStepInputs,
  type PlanState,
  type Scheduler,
  type StepOptions,
  type StepResult,
} from "./plan.js";
import { predictionCoefficients } from "./prediction.js";
import { inverseTimesteps, type StrengthSchedule, timestepsForStrength } from "./timesteps.js";

/** Configuration of {@link DDIMInverseScheduler}: the DDIM fields (spacing leading or trailing). */
export type DdimInverseConfig = DdimConfig;

/** diffusers' `DDIMInverseScheduler` defaults. */
// diffusers' DDIMInverseScheduler has the same defaults as DDIMScheduler; a copy keeps the two objects apart.
export const DDIM_INVERSE_DEFAULTS: DdimInverseConfig = Object.freeze({ ...DDIM_DEFAULTS });

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

/**
 * A {@link DDIMInverseScheduler} bound to a number of steps. Its `addNoise` is DDIM's forward process
 * x_t = √ᾱ_t·x₀ + √(1−ᾱ_t)·ε (diffusers' DDIMInverseScheduler has none).
 */
export class DdimInversePlan extends DiscretePlan<DDIMInverseScheduler> {
  constructor(scheduler: DDIMInverseScheduler, numInferenceSteps: number) {
    super(scheduler, numInferenceSteps, inverseTimesteps);
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

  /**
   * Partial inversion: the first ⌊n·strength⌋ steps of the ascending plan (the inverse of img2img's
   * `get_timesteps`, which keeps the last ones of a descending plan).
   */
  override timestepsForStrength(strength: number): StrengthSchedule {
    const forward = timestepsForStrength(this.timesteps, this.numInferenceSteps, strength, this.order);
    return Object.freeze({
      startIndex: 0,
      timesteps: Object.freeze(this.timesteps.slice(0, forward.timesteps.length)),
      numInferenceSteps: forward.numInferenceSteps,
    });
  }
}
