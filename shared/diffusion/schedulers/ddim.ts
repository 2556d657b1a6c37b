import { resolveNoise } from "../noise.js";
import {
  booleanField,
  type FieldSpec,
  NOISE_SCHEDULE_FIELDS,
  type NoiseScheduleConfig,
  numberField,
  readConfig,
  validateConfig,
} from "./config.js";
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
import { discreteTimesteps } from "./timesteps.js";

/** Configuration of {@link DDIMScheduler} (diffusers `DDIMScheduler` fields). */
export interface DdimConfig extends NoiseScheduleConfig {
  /** Clip x̂₀ to ±`clipSampleRange`. */
  readonly clipSample: boolean;
  readonly clipSampleRange: number;
  /** ᾱ used after the last step: 1 when true, ᾱ₀ otherwise. */
  readonly setAlphaToOne: boolean;
}

/** diffusers' `DDIMScheduler` defaults. */
export const DDIM_DEFAULTS: DdimConfig = Object.freeze({
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

/** JSON keys of DDIM-family configs. */
export const DDIM_FIELDS: Readonly<Record<string, FieldSpec>> = {
  ...NOISE_SCHEDULE_FIELDS,
  clip_sample: booleanField("clipSample"),
  clip_sample_range: numberField("clipSampleRange", { exclusiveMin: 0 }),
  set_alpha_to_one: booleanField("setAlphaToOne"),
};

/**
 * DDIM (Song et al. 2021) with diffusers `DDIMScheduler` semantics: deterministic for η = 0, with fresh noise
 * of standard deviation η·σ_t otherwise.
 */
export class DDIMScheduler implements Scheduler {
  /** The diffusers class name this scheduler reproduces. */
  static readonly className = "DDIMScheduler";
  readonly config: DdimConfig;
  readonly schedule: NoiseSchedule;
  /** ᾱ after the last step (`final_alpha_cumprod`). */
  readonly finalAlphaCumprod: number;

  constructor(config: Partial<DdimConfig> = {}) {
    this.config = validateConfig(DDIMScheduler.className, { ...DDIM_DEFAULTS, ...config }, DDIM_FIELDS);
    this.schedule = new NoiseSchedule(this.config);
    this.finalAlphaCumprod = this.config.setAlphaToOne ? 1 : this.schedule.alphasCumprod[0];
    Object.freeze(this);
  }

  /** Builds the scheduler from a diffusers `scheduler_config.json` object (any scheduler class's). */
  static fromConfig(json: unknown): DDIMScheduler {
    return new DDIMScheduler(readConfig(DDIMScheduler.className, DDIM_DEFAULTS, DDIM_FIELDS, json));
  }

  /** The plan for `numInferenceSteps` steps. */
  setTimesteps(numInferenceSteps: number): DdimPlan {
    return new DdimPlan(this, numInferenceSteps);
  }
}

/** A {@link DDIMScheduler} bound to a number of steps. */
export class DdimPlan extends DiscretePlan<DDIMScheduler> {
  constructor(scheduler: DDIMScheduler, numInferenceSteps: number) {
    super(scheduler, numInferenceSteps, discreteTimesteps);
  }

  /**
   * One DDIM step from t to t − T/n (diffusers computes the previous timestep as t − ⌊T/n⌋ whatever the
   * spacing). With η > 0, `options.noise` must give per-sample keys or noise.
   */
  step(
    state: PlanState,
    modelOutput: Float32Array,
    sample: Float32Array,
    options: StepOptions = {},
  ): StepResult<PlanState> {
    checkState(this, state);
    const length = checkStepInputs(modelOutput, sample);
    const { config, schedule, finalAlphaCumprod } = this.scheduler;
    const eta = options.eta ?? 0;
    if (!(eta >= 0 && eta <= 1)) throw new RangeError(`eta must be in [0, 1], got ${eta}`);
    const t = state.timestep;
    const prevT = t - Math.floor(config.numTrainTimesteps / this.numInferenceSteps);
    const alphaProd = schedule.alphaCumprod(t);
    const alphaProdPrev = prevT >= 0 ? schedule.alphaCumprod(prevT) : finalAlphaCumprod;
    const betaProd = 1 - alphaProd;
    const k = predictionCoefficients(config.predictionType, alphaProd);
    const variance = ((1 - alphaProdPrev) / betaProd) * (1 - alphaProd / alphaProdPrev);
    const std = eta * Math.sqrt(variance);
    const direction = Math.sqrt(1 - alphaProdPrev - std * std);
    const sqrtAlphaPrev = Math.sqrt(alphaProdPrev);
    const clip = config.clipSample ? config.clipSampleRange : Number.POSITIVE_INFINITY;
    const recomputeEps = options.useClippedModelOutput === true;
    const sqrtAlpha = Math.sqrt(alphaProd);
    const sqrtBeta = Math.sqrt(betaProd);
    const noise = eta > 0 ? resolveNoise(options.noise, t, length, "DDIM with eta > 0") : undefined;

    const prev = new Float32Array(length);
    const x0 = new Float32Array(length);
    for (let i = 0; i < length; i++) {
      const x = sample[i];
      const m = modelOutput[i];
      let predX0 = k.x0Sample * x + k.x0Model * m;
      if (predX0 > clip) predX0 = clip;
      else if (predX0 < -clip) predX0 = -clip;
      const eps = recomputeEps ? (x - sqrtAlpha * predX0) / sqrtBeta : k.epsSample * x + k.epsModel * m;
      let value = sqrtAlphaPrev * predX0 + direction * eps;
      if (noise !== undefined) value += std * noise[i];
      prev[i] = value;
      x0[i] = predX0;
    }
    return { prevSample: prev, predOriginalSample: x0, state: this.start(state.stepIndex + 1) };
  }
}
