import type { Rng } from "../random/index.js";

/**
 * A Gamma(shape, 1) draw by Marsaglia & Tsang (2000), "A simple method for generating gamma variables";
 * shapes below 1 use the boost Gamma(a) = Gamma(a + 1) · U^(1/a).
 */
export function sampleGamma(rng: Rng, shape: number): number {
  if (!(shape > 0) || !Number.isFinite(shape)) throw new RangeError(`gamma shape must be > 0, got ${shape}`);
  if (shape < 1) {
    // 1 − u is in (0, 1], so the power never produces 0^(1/a) from u = 0 … except when u rounds to 1.
    return sampleGamma(rng, shape + 1) * (1 - rng.nextFloat()) ** (1 / shape);
  }
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    const x = rng.nextNormal();
    const t = 1 + c * x;
    if (t <= 0) continue;
    const v = t * t * t;
    const u = 1 - rng.nextFloat(); // (0, 1]: log is finite
    if (u < 1 - 0.0331 * x * x * x * x || Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
  }
}

/** A Beta(a, b) draw as X / (X + Y) with X ~ Gamma(a), Y ~ Gamma(b). */
export function sampleBeta(rng: Rng, a: number, b: number): number {
  const x = sampleGamma(rng, a);
  const y = sampleGamma(rng, b);
  const sum = x + y;
  // Both can underflow to 0 for tiny shapes; then the draw is at an end, either end equally likely.
  return sum > 0 ? x / sum : rng.nextFloat() < a / (a + b) ? 1 : 0;
}
