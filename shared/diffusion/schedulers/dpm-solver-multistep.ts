import {
  booleanField,
  enumField,
  extendedNumberField,
  type FieldSpec,
  fixedField,
  NOISE_SCHEDULE_FIELDS,
  type NoiseScheduleConfig,
  numberField,
  readConfig,
  SchedulerConfigError,
  validateConfig,
} from "./config.js";
import { mixPerSample } from "./mix.js";
import { NoiseSchedule, SIGMA_SPACE_SCHEDULE } from "./noise-schedule.js";
import { interpOnIntegerGrid, linspace, roundHalfEven } from "./numpy-compat.js";
import {
  checkStepInputs,
  indexForTimestep,
  type Scheduler,
  type SchedulerPlan,
  type SchedulerState,
  type StepOptions,
  type StepResult,
} from "./plan.js";
import { dpmSolverTimesteps, type StrengthSchedule, timestepsForStrength } from "./timesteps.js";

/** Second-order update rule (diffusers `solver_type`). */
export type DpmSolverType = "midpoint" | "heun";

/** Configuration of {@link DPMSolverMultistepScheduler} (diffusers fields; `dpmsolver++` only). */
export interface DpmSolverConfig extends NoiseScheduleConfig {
  /** 1, 2 (the paper's and diffusers' default, "2M") or 3. */
  readonly solverOrder: 1 | 2 | 3;
  readonly algorithmType: "dpmsolver++";
  readonly solverType: DpmSolverType;
  /** Use lower orders on the last steps when there are fewer than 15 steps. */
  readonly lowerOrderFinal: boolean;
  /** Use a first-order step at the very end. */
  readonly eulerAtFinal: boolean;
  /** σ after the last step: 0 (`zero`, diffusers' default) or σ at t = 0 (`sigma_min`). */
  readonly finalSigmasType: "zero" | "sigma_min";
  /** Karras et al. (2022) sigma spacing instead of the timestep spacing. */
  readonly useKarrasSigmas: boolean;
  /** Drop timesteps whose log-SNR λ is below this (−∞ keeps all). */
  readonly lambdaMinClipped: number;
}

/** diffusers' `DPMSolverMultistepScheduler` defaults. */
export const DPM_SOLVER_DEFAULTS: DpmSolverConfig = Object.freeze({
  numTrainTimesteps: 1000,
  betaStart: 0.0001,
  betaEnd: 0.02,
  betaSchedule: "linear",
  trainedBetas: null,
  rescaleBetasZeroSnr: false,
  predictionType: "epsilon",
  timestepSpacing: "linspace",
  stepsOffset: 0,
  solverOrder: 2,
  algorithmType: "dpmsolver++",
  solverType: "midpoint",
  lowerOrderFinal: true,
  eulerAtFinal: false,
  finalSigmasType: "zero",
  useKarrasSigmas: false,
  lambdaMinClipped: Number.NEGATIVE_INFINITY,
});

const notImplemented =
  "this implementation covers DPM-Solver++ with the default sigma spacing or Karras sigmas";

const DPM_FIELDS: Readonly<Record<string, FieldSpec>> = {
  ...NOISE_SCHEDULE_FIELDS,
  solver_order: numberField("solverOrder", { integer: true, min: 1, max: 3 }),
  algorithm_type: {
    key: "algorithmType",
    parse(value, where) {
      // diffusers maps DEIS's algorithm type onto dpmsolver++ when a DEIS config is reused.
      if (value === "deis") return "dpmsolver++";
      return enumField(
        "algorithmType",
        ["dpmsolver++"],
        ["dpmsolver", "sde-dpmsolver", "sde-dpmsolver++"],
      ).parse(value, where);
    },
  },
  solver_type: {
    key: "solverType",
    parse(value, where) {
      // diffusers maps UniPC/DEIS solver types onto midpoint when their configs are reused.
      if (value === "logrho" || value === "bh1" || value === "bh2") return "midpoint";
      return enumField("solverType", ["midpoint", "heun"]).parse(value, where);
    },
  },
  lower_order_final: booleanField("lowerOrderFinal"),
  euler_at_final: booleanField("eulerAtFinal"),
  final_sigmas_type: enumField("finalSigmasType", ["zero", "sigma_min"]),
  use_karras_sigmas: booleanField("useKarrasSigmas"),
  lambda_min_clipped: extendedNumberField("lambdaMinClipped"),
  variance_type: fixedField("varianceType", null, "learned variances need a model with twice the channels"),
  use_exponential_sigmas: fixedField("useExponentialSigmas", false, notImplemented),
  use_beta_sigmas: fixedField("useBetaSigmas", false, notImplemented),
  use_lu_lambdas: fixedField("useLuLambdas", false, notImplemented),
  use_flow_sigmas: fixedField("useFlowSigmas", false, notImplemented),
  use_dynamic_shifting: fixedField("useDynamicShifting", false, notImplemented),
};

/**
 * DPM-Solver++ multistep (Lu et al. 2022), diffusers `DPMSolverMultistepScheduler` with
 * `algorithm_type="dpmsolver++"`. The paper's generation default is order 2, midpoint, 25 steps. The solver
 * keeps the last `solverOrder` x̂₀ predictions; they live in the {@link DpmSolverState} each step returns.
 */
export class DPMSolverMultistepScheduler implements Scheduler {
  static readonly className = "DPMSolverMultistepScheduler";
  readonly config: DpmSolverConfig;
  readonly schedule: NoiseSchedule;
  /** σ at every training timestep (from float32-rounded ᾱ tables in diffusers; float64 here). */
  readonly trainSigmas: Float64Array;

  constructor(config: Partial<DpmSolverConfig> = {}) {
    const merged = { ...DPM_SOLVER_DEFAULTS, ...config };
    this.config = validateConfig(DPMSolverMultistepScheduler.className, merged, DPM_FIELDS);
    if (this.config.algorithmType !== "dpmsolver++") {
      throw new SchedulerConfigError(`algorithm_type ${this.config.algorithmType} is not implemented`);
    }
    this.schedule = new NoiseSchedule(this.config, SIGMA_SPACE_SCHEDULE);
    this.trainSigmas = this.schedule.trainSigmas();
    Object.freeze(this);
  }

  /** Builds the scheduler from a diffusers `scheduler_config.json` object (any scheduler class's). */
  static fromConfig(json: unknown): DPMSolverMultistepScheduler {
    return new DPMSolverMultistepScheduler(
      readConfig(DPMSolverMultistepScheduler.className, DPM_SOLVER_DEFAULTS, DPM_FIELDS, json),
    );
  }

  setTimesteps(numInferenceSteps: number): DpmSolverPlan {
    return new DpmSolverPlan(this, numInferenceSteps);
  }
}

/** A multistep solver's run state: position plus the last `solverOrder` x̂₀ predictions (oldest first). */
export interface DpmSolverState extends SchedulerState {
  readonly modelOutputs: readonly (Float32Array | null)[];
  /** How many steps have run so far, capped at the solver order (diffusers `lower_order_nums`). */
  readonly lowerOrderNums: number;
}

class DpmState implements DpmSolverState {
  readonly timestep: number;
  readonly done: boolean;
  constructor(
    readonly owner: DpmSolverPlan,
    readonly stepIndex: number,
    readonly modelOutputs: readonly (Float32Array | null)[],
    readonly lowerOrderNums: number,
  ) {
    this.done = stepIndex === owner.timesteps.length;
    this.timestep = this.done ? Number.NaN : owner.timesteps[stepIndex];
    Object.freeze(this);
  }
}

/** Inverse of the log-sigma interpolation (diffusers `_sigma_to_t`). */
function sigmaToT(sigma: number, logSigmas: Float64Array): number {
  const logSigma = Math.log(Math.max(sigma, 1e-10));
  let low = 0;
  for (let i = 0; i < logSigmas.length; i++) if (logSigma - logSigmas[i] >= 0) low = i;
  low = Math.min(low, logSigmas.length - 2);
  const high = low + 1;
  let w = (logSigmas[low] - logSigma) / (logSigmas[low] - logSigmas[high]);
  w = Math.min(Math.max(w, 0), 1);
  return (1 - w) * low + w * high;
}

/** α_t = 1/√(σ²+1) and σ_t = σ·α_t for a variance-exploding σ. */
function alphaSigma(sigma: number): [number, number] {
  const alpha = 1 / Math.sqrt(sigma * sigma + 1);
  return [alpha, sigma * alpha];
}

/** A {@link DPMSolverMultistepScheduler} bound to a number of steps. */
export class DpmSolverPlan implements SchedulerPlan<DpmSolverState> {
  readonly scheduler: DPMSolverMultistepScheduler;
  readonly numInferenceSteps: number;
  readonly timesteps: readonly number[];
  /** σ per step plus the final σ, stored in float32 as diffusers does. */
  readonly sigmas: readonly number[];
  readonly order = 1;
  readonly initNoiseSigma = 1;

  constructor(scheduler: DPMSolverMultistepScheduler, numInferenceSteps: number) {
    const { config, schedule, trainSigmas } = scheduler;
    this.scheduler = scheduler;
    const T = config.numTrainTimesteps;
    // λ_t decreases with t; count the λ below lambda_min_clipped (diffusers' searchsorted on the flipped λ).
    let clipped = 0;
    for (let t = T - 1; t >= 0; t--) {
      const alpha = schedule.alphasCumprod[t];
      const lambda = Math.log(Math.sqrt(alpha)) - Math.log(Math.sqrt(1 - alpha));
      if (lambda < config.lambdaMinClipped) clipped++;
      else break;
    }
    let timesteps = dpmSolverTimesteps(
      config.timestepSpacing,
      numInferenceSteps,
      T,
      T - clipped,
      config.stepsOffset,
    );
    let sigmas: number[];
    if (config.useKarrasSigmas) {
      const sigmaMin = trainSigmas[0];
      const sigmaMax = trainSigmas[T - 1];
      const rho = 7;
      const minInvRho = sigmaMin ** (1 / rho);
      const maxInvRho = sigmaMax ** (1 / rho);
      sigmas = linspace(0, 1, numInferenceSteps).map(
        (ramp) => (maxInvRho + ramp * (minInvRho - maxInvRho)) ** rho,
      );
      const logSigmas = trainSigmas.map(Math.log);
      timesteps = sigmas.map((sigma) => {
        const t = sigmaToT(sigma, logSigmas);
        // diffusers rounds except for squaredcos_cap_v2, whose float timesteps are then cast (truncated) to int.
        return config.betaSchedule === "squaredcos_cap_v2" ? Math.trunc(t) : roundHalfEven(t);
      });
    } else {
      sigmas = timesteps.map((t) => interpOnIntegerGrid(t, trainSigmas));
    }
    const sigmaLast = config.finalSigmasType === "sigma_min" ? trainSigmas[0] : 0;
    this.sigmas = Object.freeze([...sigmas, sigmaLast].map(Math.fround));
    this.timesteps = Object.freeze(timesteps);
    this.numInferenceSteps = timesteps.length;
    Object.freeze(this);
  }

  start(startIndex = 0): DpmSolverState {
    if (!Number.isInteger(startIndex) || startIndex < 0 || startIndex > this.timesteps.length) {
      throw new RangeError(
        `step index must be an integer in [0, ${this.timesteps.length}], got ${startIndex}`,
      );
    }
    const history = new Array<Float32Array | null>(this.scheduler.config.solverOrder).fill(null);
    return new DpmState(this, startIndex, Object.freeze(history), 0);
  }

  scaleModelInput(sample: Float32Array, _timestep: number): Float32Array {
    return sample;
  }

  /** x̂₀ from the model output at plan index `stepIndex` (diffusers `convert_model_output`, dpmsolver++). */
  #toX0(modelOutput: Float32Array, sample: Float32Array, stepIndex: number): Float32Array {
    const [alpha, sigma] = alphaSigma(this.sigmas[stepIndex]);
    const out = new Float32Array(sample.length);
    switch (this.scheduler.config.predictionType) {
      case "epsilon":
        for (let i = 0; i < out.length; i++) out[i] = (sample[i] - sigma * modelOutput[i]) / alpha;
        return out;
      case "sample":
        out.set(modelOutput);
        return out;
      case "v_prediction":
        for (let i = 0; i < out.length; i++) out[i] = alpha * sample[i] - sigma * modelOutput[i];
        return out;
    }
  }

  /** One multistep update. Deterministic; `options` is ignored. */
  step(
    state: DpmSolverState,
    modelOutput: Float32Array,
    sample: Float32Array,
    _options?: StepOptions,
  ): StepResult<DpmSolverState> {
    if (!(state instanceof DpmState) || state.owner !== this) {
      throw new TypeError("this state was not made by this plan (call plan.start() on the same plan)");
    }
    if (state.done) throw new RangeError("every step of this plan has already run");
    const length = checkStepInputs(modelOutput, sample);
    const { config } = this.scheduler;
    const i = state.stepIndex;
    const n = this.timesteps.length;
    const lowerOrderFinal =
      i === n - 1 &&
      (config.eulerAtFinal || (config.lowerOrderFinal && n < 15) || config.finalSigmasType === "zero");
    const lowerOrderSecond = i === n - 2 && config.lowerOrderFinal && n < 15;

    const x0 = this.#toX0(modelOutput, sample, i);
    const history = [...state.modelOutputs.slice(1), x0];

    let order: 1 | 2 | 3;
    if (config.solverOrder === 1 || state.lowerOrderNums < 1 || lowerOrderFinal) order = 1;
    else if (config.solverOrder === 2 || state.lowerOrderNums < 2 || lowerOrderSecond) order = 2;
    else order = 3;

    const [alphaT, sigmaT] = alphaSigma(this.sigmas[i + 1]);
    const [alphaS0, sigmaS0] = alphaSigma(this.sigmas[i]);
    const lambdaT = Math.log(alphaT) - Math.log(sigmaT);
    const lambdaS0 = Math.log(alphaS0) - Math.log(sigmaS0);
    const h = lambdaT - lambdaS0;
    const expm = Math.exp(-h) - 1; // e^{−h} − 1
    const sampleCoefficient = sigmaT / sigmaS0;
    const prev = new Float32Array(length);

    if (order === 1) {
      // x_t = (σ_t/σ_s)·x − α_t(e^{−h} − 1)·D0
      const c0 = -alphaT * expm;
      for (let k = 0; k < length; k++) prev[k] = sampleCoefficient * sample[k] + c0 * x0[k];
    } else {
      const m0 = history[history.length - 1]!;
      const m1 = history[history.length - 2]!;
      const [alphaS1, sigmaS1] = alphaSigma(this.sigmas[i - 1]);
      const lambdaS1 = Math.log(alphaS1) - Math.log(sigmaS1);
      const h0 = lambdaS0 - lambdaS1;
      const r0 = h0 / h;
      if (order === 2) {
        // D1 = (m0 − m1)/r0; midpoint: −½α_t(e^{−h}−1)·D1, heun: α_t((e^{−h}−1)/h + 1)·D1
        const c0 = -alphaT * expm;
        const c1 = (config.solverType === "midpoint" ? -0.5 * alphaT * expm : alphaT * (expm / h + 1)) / r0;
        for (let k = 0; k < length; k++) {
          prev[k] = sampleCoefficient * sample[k] + c0 * m0[k] + c1 * (m0[k] - m1[k]);
        }
      } else {
        const m2 = history[history.length - 3]!;
        const [alphaS2, sigmaS2] = alphaSigma(this.sigmas[i - 2]);
        const lambdaS2 = Math.log(alphaS2) - Math.log(sigmaS2);
        const r1 = (lambdaS1 - lambdaS2) / h;
        const c0 = -alphaT * expm;
        const cD1 = alphaT * (expm / h + 1);
        const cD2 = -alphaT * ((expm + h) / (h * h) - 0.5);
        for (let k = 0; k < length; k++) {
          const d10 = (m0[k] - m1[k]) / r0;
          const d11 = (m1[k] - m2[k]) / r1;
          const d1 = d10 + (r0 / (r0 + r1)) * (d10 - d11);
          const d2 = (d10 - d11) / (r0 + r1);
          prev[k] = sampleCoefficient * sample[k] + c0 * m0[k] + cD1 * d1 + cD2 * d2;
        }
      }
    }
    const lowerOrderNums = Math.min(state.lowerOrderNums + 1, config.solverOrder);
    return { prevSample: prev, state: new DpmState(this, i + 1, Object.freeze(history), lowerOrderNums) };
  }

  /** α_t·x₀ + σ_t·ε with α_t, σ_t from the plan's sigma at `timesteps` (which must be plan timesteps). */
  addNoise(original: Float32Array, noise: Float32Array, timesteps: number | readonly number[]): Float32Array {
    return mixPerSample(original, noise, timesteps, (t) =>
      alphaSigma(this.sigmas[indexForTimestep(this.timesteps, t)]),
    );
  }

  timestepsForStrength(strength: number): StrengthSchedule {
    return timestepsForStrength(this.timesteps, this.numInferenceSteps, strength, this.order);
  }
}
