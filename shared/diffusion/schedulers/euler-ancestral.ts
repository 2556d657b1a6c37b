import { resolveNoise } from "../noise.js";
import {
  enumField,
  type FieldSpec,
  NOISE_SCHEDULE_FIELDS,
  type NoiseScheduleConfig,
  type PredictionType,
  readConfig,
  SchedulerConfigError,
  validateConfig,
} from "./config.js";
import { mixPerSample } from "./mix.js";
import { NoiseSchedule, SIGMA_SPACE_SCHEDULE } from "./noise-schedule.js";
import { interpOnIntegerGrid } from "./numpy-compat.js";
import {
  checkState,
  checkStepInputs,
  indexForTimestep,
  PlanState,
  type Scheduler,
  type SchedulerPlan,
  type StepOptions,
  type StepResult,
} from "./plan.js";
import { eulerTimesteps, type StrengthSchedule, timestepsForStrength } from "./timesteps.js";

/** Configuration of {@link EulerAncestralDiscreteScheduler} (epsilon or v-prediction only, as diffusers). */
export type EulerAncestralConfig = NoiseScheduleConfig;

/** diffusers' `EulerAncestralDiscreteScheduler` defaults. */
export const EULER_ANCESTRAL_DEFAULTS: EulerAncestralConfig = Object.freeze({
  numTrainTimesteps: 1000,
  betaStart: 0.0001,
  betaEnd: 0.02,
  betaSchedule: "linear",
  trainedBetas: null,
  rescaleBetasZeroSnr: false,
  predictionType: "epsilon",
  timestepSpacing: "linspace",
  stepsOffset: 0,
});

const EULER_FIELDS: Readonly<Record<string, FieldSpec>> = {
  ...NOISE_SCHEDULE_FIELDS,
  prediction_type: enumField<PredictionType>(
    "predictionType",
    ["epsilon", "v_prediction"],
    ["sample", "flow_prediction"],
  ),
};

/**
 * Euler ancestral sampling (Karras et al. 2022, k-diffusion `sample_euler_ancestral`) with diffusers
 * `EulerAncestralDiscreteScheduler` semantics. It works in sigma space: x = x₀ + σ·ε with
 * σ = √((1−ᾱ)/ᾱ), so the model input is x / √(σ² + 1) and the initial noise is scaled by `initNoiseSigma`.
 */
export class EulerAncestralDiscreteScheduler implements Scheduler {
  static readonly className = "EulerAncestralDiscreteScheduler";
  readonly config: EulerAncestralConfig;
  readonly schedule: NoiseSchedule;
  /** σ at every training timestep. */
  readonly trainSigmas: Float64Array;

  constructor(config: Partial<EulerAncestralConfig> = {}) {
    const merged = { ...EULER_ANCESTRAL_DEFAULTS, ...config };
    this.config = validateConfig(EulerAncestralDiscreteScheduler.className, merged, EULER_FIELDS);
    if (this.config.predictionType === "sample") {
      throw new SchedulerConfigError(
        "EulerAncestralDiscreteScheduler supports epsilon and v_prediction only",
      );
    }
    this.schedule = new NoiseSchedule(this.config, SIGMA_SPACE_SCHEDULE);
    this.trainSigmas = this.schedule.trainSigmas();
    Object.freeze(this);
  }

  /** Builds the scheduler from a diffusers `scheduler_config.json` object (any scheduler class's). */
  static fromConfig(json: unknown): EulerAncestralDiscreteScheduler {
    return new EulerAncestralDiscreteScheduler(
      readConfig(EulerAncestralDiscreteScheduler.className, EULER_ANCESTRAL_DEFAULTS, EULER_FIELDS, json),
    );
  }

  setTimesteps(numInferenceSteps: number): EulerAncestralPlan {
    return new EulerAncestralPlan(this, numInferenceSteps);
  }
}

/** An {@link EulerAncestralDiscreteScheduler} bound to a number of steps. */
export class EulerAncestralPlan implements SchedulerPlan<PlanState> {
  readonly scheduler: EulerAncestralDiscreteScheduler;
  readonly numInferenceSteps: number;
  /** Float timesteps (fractional with linspace spacing), descending. */
  readonly timesteps: readonly number[];
  /** σ per step plus a final 0, stored in float32 as diffusers does. */
  readonly sigmas: readonly number[];
  readonly order = 1;
  readonly initNoiseSigma: number;

  constructor(scheduler: EulerAncestralDiscreteScheduler, numInferenceSteps: number) {
    const { config, trainSigmas } = scheduler;
    this.scheduler = scheduler;
    this.numInferenceSteps = numInferenceSteps;
    const timesteps = eulerTimesteps(
      config.timestepSpacing,
      numInferenceSteps,
      config.numTrainTimesteps,
      config.stepsOffset,
    );
    this.timesteps = Object.freeze(timesteps);
    this.sigmas = Object.freeze([
      ...timesteps.map((t) => Math.fround(interpOnIntegerGrid(t, trainSigmas))),
      0,
    ]);
    const maxSigma = Math.max(...this.sigmas);
    // diffusers: σ_max for linspace/trailing spacing, √(σ_max² + 1) for leading.
    this.initNoiseSigma =
      config.timestepSpacing === "leading" ? Math.sqrt(maxSigma * maxSigma + 1) : maxSigma;
    Object.freeze(this);
  }

  start(startIndex = 0): PlanState {
    return new PlanState(this, this.timesteps, startIndex);
  }

  /** x / √(σ² + 1) with σ the plan's sigma at `timestep`. */
  scaleModelInput(sample: Float32Array, timestep: number): Float32Array {
    const sigma = this.sigmas[indexForTimestep(this.timesteps, timestep)];
    const scale = 1 / Math.sqrt(sigma * sigma + 1);
    const out = new Float32Array(sample.length);
    for (let i = 0; i < sample.length; i++) out[i] = sample[i] * scale;
    return out;
  }

  /**
   * One Euler step to σ_down plus fresh noise of standard deviation σ_up, where
   * σ_up = √(σ_to²(σ_from² − σ_to²)/σ_from²) and σ_down = √(σ_to² − σ_up²). `options.noise` is required.
   */
  step(
    state: PlanState,
    modelOutput: Float32Array,
    sample: Float32Array,
    options: StepOptions = {},
  ): StepResult<PlanState> {
    checkState(this, state);
    const length = checkStepInputs(modelOutput, sample);
    const sigma = this.sigmas[state.stepIndex];
    const sigmaTo = this.sigmas[state.stepIndex + 1];
    const sigmaUp = Math.sqrt((sigmaTo * sigmaTo * (sigma * sigma - sigmaTo * sigmaTo)) / (sigma * sigma));
    const sigmaDown = Math.sqrt(Math.max(sigmaTo * sigmaTo - sigmaUp * sigmaUp, 0));
    const dt = sigmaDown - sigma;
    const vPrediction = this.scheduler.config.predictionType === "v_prediction";
    const vModel = -sigma / Math.sqrt(sigma * sigma + 1);
    const vSample = 1 / (sigma * sigma + 1);
    const noise =
      sigmaUp > 0 ? resolveNoise(options.noise, state.timestep, length, "Euler ancestral step") : undefined;

    const prev = new Float32Array(length);
    const x0 = new Float32Array(length);
    for (let i = 0; i < length; i++) {
      const x = sample[i];
      const m = modelOutput[i];
      const predX0 = vPrediction ? m * vModel + x * vSample : x - sigma * m;
      const derivative = (x - predX0) / sigma;
      let value = x + derivative * dt;
      if (noise !== undefined) value += noise[i] * sigmaUp;
      prev[i] = value;
      x0[i] = predX0;
    }
    return { prevSample: prev, predOriginalSample: x0, state: this.start(state.stepIndex + 1) };
  }

  /** x₀ + σ_t·ε, with σ_t the plan's sigma at `timesteps` (which must be plan timesteps). */
  addNoise(original: Float32Array, noise: Float32Array, timesteps: number | readonly number[]): Float32Array {
    return mixPerSample(original, noise, timesteps, (t) => [
      1,
      this.sigmas[indexForTimestep(this.timesteps, t)],
    ]);
  }

  timestepsForStrength(strength: number): StrengthSchedule {
    return timestepsForStrength(this.timesteps, this.numInferenceSteps, strength, this.order);
  }
}
