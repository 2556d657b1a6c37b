import { NoisePurpose, type SampleKey, sampleRng } from "../noise.js";

function checkSameLength(a: Float32Array, b: Float32Array): void {
  if (a.length !== b.length) throw new RangeError(`latents differ in length: ${a.length} vs ${b.length}`);
}

/** Dot product and the two norms, accumulated in float64. */
function geometry(a: Float32Array, b: Float32Array): { dot: number; normA: number; normB: number } {
  let dot = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return { dot, normA: Math.sqrt(aa), normB: Math.sqrt(bb) };
}

/** The angle θ between two latents (each one whole sample, flattened), in [0, π]. */
export function angleBetween(a: Float32Array, b: Float32Array): number {
  checkSameLength(a, b);
  const { dot, normA, normB } = geometry(a, b);
  if (normA === 0 || normB === 0) return 0;
  return Math.acos(Math.min(1, Math.max(-1, dot / (normA * normB))));
}

/**
 * Spherical linear interpolation between two latents of one sample:
 * slerp(t) = sin((1−t)θ)/sin θ · a + sin(tθ)/sin θ · b, with θ the angle between them. Falls back to linear
 * interpolation when the latents are almost parallel (|cos θ| > `dotThreshold`), where the formula is
 * ill-conditioned. t = 0 gives a, t = 1 gives b; for equal norms the norm is preserved.
 */
export function slerp(a: Float32Array, b: Float32Array, t: number, dotThreshold = 0.9995): Float32Array {
  checkSameLength(a, b);
  const { dot, normA, normB } = geometry(a, b);
  const cos = normA === 0 || normB === 0 ? 1 : dot / (normA * normB);
  const out = new Float32Array(a.length);
  let ca: number;
  let cb: number;
  if (Math.abs(cos) > dotThreshold) {
    ca = 1 - t;
    cb = t;
  } else {
    const theta = Math.acos(cos);
    const sin = Math.sin(theta);
    ca = Math.sin((1 - t) * theta) / sin;
    cb = Math.sin(t * theta) / sin;
  }
  for (let i = 0; i < out.length; i++) out[i] = ca * a[i] + cb * b[i];
  return out;
}

/**
 * Diff-II's circle interpolation (Inversion Circle Interpolation, CVPR 2025; DiffDA-Eval `rand_slerp`): the
 * point at rotation angle φ from z1 on the great circle through z1 and z2,
 * z(φ) = sin(θ + φ)/sin θ · z1 − sin φ / sin θ · z2, with θ the angle between z1 and z2.
 * φ = 0 gives z1 and φ = 2π − θ gives z2; Diff-II draws α ~ U(0, 2π/θ) and uses φ = α·θ, i.e. φ ~ U(0, 2π).
 * When z1 and z2 are (anti)parallel the circle is not defined and z1 is returned, as Diff-II does for θ ≈ 0.
 */
export function circleInterpolation(
  z1: Float32Array,
  z2: Float32Array,
  angle: number,
  epsilon = 1e-6,
): Float32Array {
  checkSameLength(z1, z2);
  const theta = angleBetween(z1, z2);
  const sin = Math.sin(theta);
  if (theta < epsilon || sin < epsilon) return z1.slice();
  const c1 = Math.sin(theta + angle) / sin;
  const c2 = -Math.sin(angle) / sin;
  const out = new Float32Array(z1.length);
  for (let i = 0; i < out.length; i++) out[i] = c1 * z1[i] + c2 * z2[i];
  return out;
}

/** Diff-II's random angle φ ~ U(0, 2π) for one sample, from its own random stream. */
export function circleAngle(key: SampleKey): number {
  return 2 * Math.PI * sampleRng(key, NoisePurpose.circleAngle).nextFloat();
}

/** Circle interpolation at the sample's random angle; returns the latent and the angle used. */
export function randomCircleInterpolation(
  z1: Float32Array,
  z2: Float32Array,
  key: SampleKey,
): { latent: Float32Array; angle: number } {
  const angle = circleAngle(key);
  return { latent: circleInterpolation(z1, z2, angle), angle };
}
