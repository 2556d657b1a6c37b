import { type NoiseScheduleConfig, SchedulerConfigError } from "./config.js";
import { mixPerSample } from "./mix.js";

/**
 * Betas of the cosine schedule (Nichol & Dhariwal 2021), diffusers' `betas_for_alpha_bar` with
 * `alpha_transform_type="cosine"` and `max_beta=0.999`.
 */
function cosineBetas(numTrainTimesteps: number, maxBeta = 0.999): Float64Array {
  const alphaBar = (t: number) => Math.cos(((t + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
  const betas = new Float64Array(numTrainTimesteps);
  for (let i = 0; i < numTrainTimesteps; i++) {
    const t1 = i / numTrainTimesteps;
    const t2 = (i + 1) / numTrainTimesteps;
    betas[i] = Math.min(1 - alphaBar(t2) / alphaBar(t1), maxBeta);
  }
  return betas;
}

/** Rescales betas to zero terminal SNR (Lin et al. 2023, "Common Diffusion Noise Schedules…", Algorithm 1). */
function rescaleZeroTerminalSnr(betas: Float64Array): Float64Array {
  const n = betas.length;
  const sqrtBar = new Float64Array(n);
  let product = 1;
  for (let i = 0; i < n; i++) {
    product *= 1 - betas[i];
    sqrtBar[i] = Math.sqrt(product);
  }
  const first = sqrtBar[0];
  const last = sqrtBar[n - 1];
  const scale = first / (first - last);
  const alphaBar = new Float64Array(n);
  for (let i = 0; i < n; i++) alphaBar[i] = ((sqrtBar[i] - last) * scale) ** 2;
  const rescaled = new Float64Array(n);
  rescaled[0] = 1 - alphaBar[0];
  for (let i = 1; i < n; i++) rescaled[i] = 1 - alphaBar[i] / alphaBar[i - 1];
  return rescaled;
}

/** The betas a config describes, before any zero-SNR rescaling. */
function betasFromConfig(config: NoiseScheduleConfig): Float64Array {
  const n = config.numTrainTimesteps;
  if (config.trainedBetas !== null) {
    if (config.trainedBetas.length !== n) {
      throw new SchedulerConfigError(
        `trained_betas has ${config.trainedBetas.length} values but num_train_timesteps is ${n}`,
      );
    }
    return Float64Array.from(config.trainedBetas);
  }
  const betas = new Float64Array(n);
  switch (config.betaSchedule) {
    case "linear":
      for (let i = 0; i < n; i++) {
        betas[i] =
          n === 1 ? config.betaStart : config.betaStart + ((config.betaEnd - config.betaStart) * i) / (n - 1);
      }
      return betas;
    case "scaled_linear": {
      const start = Math.sqrt(config.betaStart);
      const end = Math.sqrt(config.betaEnd);
      for (let i = 0; i < n; i++) betas[i] = (n === 1 ? start : start + ((end - start) * i) / (n - 1)) ** 2;
      return betas;
    }
    case "squaredcos_cap_v2":
      return cosineBetas(n);
  }
}

/**
 * {@link NoiseSchedule} options of the sigma-space schedulers (Euler ancestral, DPM-Solver): under zero-SNR
 * rescaling diffusers sets their last ᾱ to 2⁻²⁴ instead of 0, so that σ_T stays finite.
 */
export const SIGMA_SPACE_SCHEDULE = Object.freeze({ zeroSnrTerminalAlpha: 2 ** -24 });

/**
 * The forward-process noise schedule shared by every scheduler: betas, ᾱ_t (`alphas_cumprod`) and the
 * closed-form forward process. Kept in float64 (diffusers keeps these tables in float32; values agree to
 * float32 rounding).
 */
export class NoiseSchedule {
  /** β_t for t = 0 … T−1. */
  readonly betas: Float64Array;
  /** ᾱ_t = ∏_{s≤t} (1 − β_s) for t = 0 … T−1. */
  readonly alphasCumprod: Float64Array;

  constructor(config: NoiseScheduleConfig, options: { zeroSnrTerminalAlpha?: number } = {}) {
    let betas = betasFromConfig(config);
    if (config.rescaleBetasZeroSnr) betas = rescaleZeroTerminalSnr(betas);
    const alphasCumprod = new Float64Array(betas.length);
    let product = 1;
    for (let i = 0; i < betas.length; i++) {
      product *= 1 - betas[i];
      alphasCumprod[i] = product;
    }
    // Sigma-parameterised schedulers replace ᾱ_T = 0 by a tiny value so that σ_T stays finite.
    if (config.rescaleBetasZeroSnr && options.zeroSnrTerminalAlpha !== undefined) {
      alphasCumprod[alphasCumprod.length - 1] = options.zeroSnrTerminalAlpha;
    }
    this.betas = betas;
    this.alphasCumprod = alphasCumprod;
  }

  /** Number of training timesteps T. */
  get length(): number {
    return this.alphasCumprod.length;
  }

  /** ᾱ_t for an integer training timestep. */
  alphaCumprod(timestep: number): number {
    if (!Number.isInteger(timestep) || timestep < 0 || timestep >= this.alphasCumprod.length) {
      throw new RangeError(
        `timestep must be an integer in [0, ${this.alphasCumprod.length}), got ${timestep}`,
      );
    }
    return this.alphasCumprod[timestep];
  }

  /** σ_t = √((1 − ᾱ_t) / ᾱ_t), the noise level of the variance-exploding view, for every training timestep. */
  trainSigmas(): Float64Array {
    const sigmas = new Float64Array(this.alphasCumprod.length);
    for (let i = 0; i < sigmas.length; i++) {
      sigmas[i] = Math.sqrt((1 - this.alphasCumprod[i]) / this.alphasCumprod[i]);
    }
    return sigmas;
  }

  /**
   * The forward process x_t = √ᾱ_t·x₀ + √(1−ᾱ_t)·ε (diffusers `add_noise` of DDPM/DDIM). `timesteps` is one
   * timestep for the whole batch or one per sample (batch-major layout).
   */
  addNoise(original: Float32Array, noise: Float32Array, timesteps: number | readonly number[]): Float32Array {
    return this.#mix(original, noise, timesteps, (alpha) => [Math.sqrt(alpha), Math.sqrt(1 - alpha)]);
  }

  /** The v-prediction target v = √ᾱ_t·ε − √(1−ᾱ_t)·x₀ (diffusers `get_velocity`). */
  velocity(sample: Float32Array, noise: Float32Array, timesteps: number | readonly number[]): Float32Array {
    return this.#mix(noise, sample, timesteps, (alpha) => [Math.sqrt(alpha), -Math.sqrt(1 - alpha)]);
  }

  #mix(
    a: Float32Array,
    b: Float32Array,
    timesteps: number | readonly number[],
    coefficients: (alphaCumprod: number) => [number, number],
  ): Float32Array {
    return mixPerSample(a, b, timesteps, (t) => coefficients(this.alphaCumprod(t)));
  }
}
