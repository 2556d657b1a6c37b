import { resolveNoise } from "../noise.js";
import {
  booleanField,
  enumField,
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

/**
 * Variance of the noise DDPM adds per step: `fixed_small` (posterior variance β̃_t, diffusers' default),
 * `fixed_small_log` (the same, computed through its logarithm) or `fixed_large` (β_t).
 */
export type DdpmVarianceType = "fixed_small" | "fixed_small_log" | "fixed_large";

/** Configuration of {@link DDPMScheduler} (diffusers `DDPMScheduler` fields). */
export interface DdpmConfig extends NoiseScheduleConfig {
  readonly varianceType: DdpmVarianceType;
  readonly clipSample: boolean;
  readonly clipSampleRange: number;
}

/** diffusers' `DDPMScheduler` defaults. */
export const DDPM_DEFAULTS: DdpmConfig = Object.freeze({
  numTrainTimesteps: 1000,
  betaStart: 0.0001,
  betaEnd: 0.02,
  betaSchedule: "linear",
  trainedBetas: null,
  rescaleBetasZeroSnr: false,
  predictionType: "epsilon",
  timestepSpacing: "leading",
  stepsOffset: 0,
  varianceType: "fixed_small",
  clipSample: true,
  clipSampleRange: 1,
});

const DDPM_FIELDS: Readonly<Record<string, FieldSpec>> = {
  ...NOISE_SCHEDULE_FIELDS,
  variance_type: enumField<DdpmVarianceType>(
    "varianceType",
    ["fixed_small", "fixed_small_log", "fixed_large"],
    // learned variances need a model with twice the channels; fixed_large_log is NaN in diffusers itself.
    ["fixed_large_log", "learned", "learned_range"],
  ),
  clip_sample: booleanField("clipSample"),
  clip_sample_range: numberField("clipSampleRange", { exclusiveMin: 0 }),
};

/** Ancestral DDPM sampling (Ho et al. 2020) with diffusers `DDPMScheduler` semantics. */
export class DDPMScheduler implements Scheduler {
  static readonly className = "DDPMScheduler";
  readonly config: DdpmConfig;
  readonly schedule: NoiseSchedule;

  constructor(config: Partial<DdpmConfig> = {}) {
    this.config = validateConfig(DDPMScheduler.className, { ...DDPM_DEFAULTS, ...config }, DDPM_FIELDS);
    this.schedule = new NoiseSchedule(this.config);
    Object.freeze(this);
  }

  /** Builds the scheduler from a diffusers `scheduler_config.json` object (any scheduler class's). */
  static fromConfig(json: unknown): DDPMScheduler {
    return new DDPMScheduler(readConfig(DDPMScheduler.className, DDPM_DEFAULTS, DDPM_FIELDS, json));
  }

  setTimesteps(numInferenceSteps: number): DdpmPlan {
    return new DdpmPlan(this, numInferenceSteps);
  }
}

/** A {@link DDPMScheduler} bound to a number of steps. */
export class DdpmPlan extends DiscretePlan<DDPMScheduler> {
  constructor(scheduler: DDPMScheduler, numInferenceSteps: number) {
    super(scheduler, numInferenceSteps, discreteTimesteps);
  }

  /** Standard deviation of the noise added by the step at plan index `stepIndex` (diffusers `_get_variance`). */
  noiseStd(stepIndex: number): number {
    const { schedule, config } = this.scheduler;
    const t = this.timesteps[stepIndex];
    const prevT = stepIndex + 1 < this.timesteps.length ? this.timesteps[stepIndex + 1] : -1;
    const alphaProd = schedule.alphaCumprod(t);
    const alphaProdPrev = prevT >= 0 ? schedule.alphaCumprod(prevT) : 1;
    const currentBeta = 1 - alphaProd / alphaProdPrev;
    const posterior = Math.max(((1 - alphaProdPrev) / (1 - alphaProd)) * currentBeta, 1e-20);
    switch (config.varianceType) {
      case "fixed_small":
        return Math.sqrt(posterior);
      case "fixed_small_log":
        return Math.exp(0.5 * Math.log(posterior));
      case "fixed_large":
        return Math.sqrt(currentBeta);
    }
  }

  // jscpd:ignore-start (each scheduler's step opens as its diffusers class does)
  /**
   * One ancestral step from t to the plan's next timestep (ᾱ = 1 after the last). Adds noise whenever t > 0,
   * so `options.noise` is required.
   */
  step(
    state: PlanState,
    modelOutput: Float32Array,
    sample: Float32Array,
    options: StepOptions = {},
  ): StepResult<PlanState> {
    checkState(this, state);
    const length = checkStepInputs(modelOutput, sample);
    const { config, schedule } = this.scheduler;
    // jscpd:ignore-end
    const t = state.timestep;
    const next = state.stepIndex + 1;
    const prevT = next < this.timesteps.length ? this.timesteps[next] : -1;
    const alphaProd = schedule.alphaCumprod(t);
    const alphaProdPrev = prevT >= 0 ? schedule.alphaCumprod(prevT) : 1;
    const betaProd = 1 - alphaProd;
    const betaProdPrev = 1 - alphaProdPrev;
    const currentAlpha = alphaProd / alphaProdPrev;
    const currentBeta = 1 - currentAlpha;
    const k = predictionCoefficients(config.predictionType, alphaProd);
    const x0Coefficient = (Math.sqrt(alphaProdPrev) * currentBeta) / betaProd;
    const sampleCoefficient = (Math.sqrt(currentAlpha) * betaProdPrev) / betaProd;
    const clip = config.clipSample ? config.clipSampleRange : Number.POSITIVE_INFINITY;
    const noise = t > 0 ? resolveNoise(options.noise, t, length, "DDPM step") : undefined;
    const std = t > 0 ? this.noiseStd(state.stepIndex) : 0;

    const prev = new Float32Array(length);
    const x0 = new Float32Array(length);
    for (let i = 0; i < length; i++) {
      const x = sample[i];
      let predX0 = k.x0Sample * x + k.x0Model * modelOutput[i];
      if (predX0 > clip) predX0 = clip;
      else if (predX0 < -clip) predX0 = -clip;
      let value = x0Coefficient * predX0 + sampleCoefficient * x;
      if (noise !== undefined) value += std * noise[i];
      prev[i] = value;
      x0[i] = predX0;
    }
    return { prevSample: prev, predOriginalSample: x0, state: this.start(next) };
  }
}
