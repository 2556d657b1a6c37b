import type { PredictionType } from "./config.js";

/**
 * Coefficients that turn (sample x_t, model output m) into the clean-sample estimate x̂₀ = a·x_t + b·m and
 * the noise estimate ε̂ = c·x_t + d·m at a timestep with cumulative alpha ᾱ (DDPM-space schedulers).
 */
export interface PredictionCoefficients {
  readonly x0Sample: number;
  readonly x0Model: number;
  readonly epsSample: number;
  readonly epsModel: number;
}

/** {@link PredictionCoefficients} for a prediction type at cumulative alpha `alphaProd`. */
export function predictionCoefficients(type: PredictionType, alphaProd: number): PredictionCoefficients {
  const sqrtAlpha = Math.sqrt(alphaProd);
  const sqrtBeta = Math.sqrt(1 - alphaProd);
  switch (type) {
    case "epsilon":
      // x̂₀ = (x − √(1−ᾱ)·ε) / √ᾱ
      return { x0Sample: 1 / sqrtAlpha, x0Model: -sqrtBeta / sqrtAlpha, epsSample: 0, epsModel: 1 };
    case "sample":
      // ε̂ = (x − √ᾱ·x̂₀) / √(1−ᾱ)
      return { x0Sample: 0, x0Model: 1, epsSample: 1 / sqrtBeta, epsModel: -sqrtAlpha / sqrtBeta };
    case "v_prediction":
      // x̂₀ = √ᾱ·x − √(1−ᾱ)·v, ε̂ = √ᾱ·v + √(1−ᾱ)·x
      return { x0Sample: sqrtAlpha, x0Model: -sqrtBeta, epsSample: sqrtBeta, epsModel: sqrtAlpha };
  }
}
