import { NoisePurpose, type SampleKey, sampleRng } from "../noise.js";

/** Shape of a batch of latents, batch-major NCHW. */
export interface LatentShape {
  readonly batch: number;
  readonly channels: number;
  readonly height: number;
  readonly width: number;
}

/** GIF's channel-wise perturbation: z' = z·(1 + multiplicative[n, c]) + additive[n, c], over all pixels. */
export interface ChannelPerturbation {
  /** batch × channels factors. */
  readonly multiplicative: Float32Array;
  /** batch × channels offsets. */
  readonly additive: Float32Array;
}

function checkShape(latents: Float32Array, shape: LatentShape): number {
  const plane = shape.height * shape.width;
  if (latents.length !== shape.batch * shape.channels * plane) {
    throw new RangeError(
      `latents hold ${latents.length} values, shape ${shape.batch}×${shape.channels}×${shape.height}×${shape.width} needs ${shape.batch * shape.channels * plane}`,
    );
  }
  return plane;
}

function checkPerturbation(p: ChannelPerturbation, shape: LatentShape): void {
  const n = shape.batch * shape.channels;
  if (p.multiplicative.length !== n || p.additive.length !== n) {
    throw new RangeError(`a channel perturbation needs ${n} factors and offsets (batch × channels)`);
  }
}

/**
 * GIF's random initial perturbation for each sample: factors ~ U(0, 1) and offsets ~ N(0, 1) per channel
 * (DiffDA-Eval `torch.rand` / `normal_(0, 1)`), from the sample's own random stream.
 */
export function randomChannelPerturbation(keys: readonly SampleKey[], channels: number): ChannelPerturbation {
  const multiplicative = new Float32Array(keys.length * channels);
  const additive = new Float32Array(keys.length * channels);
  keys.forEach((key, n) => {
    const rng = sampleRng(key, NoisePurpose.channelPerturbation);
    for (let c = 0; c < channels; c++) multiplicative[n * channels + c] = rng.nextFloat();
    for (let c = 0; c < channels; c++) additive[n * channels + c] = rng.nextNormal();
  });
  return { multiplicative, additive };
}

/** z·(1 + m[n, c]) + b[n, c] for every pixel of channel c of sample n. */
export function applyChannelPerturbation(
  latents: Float32Array,
  shape: LatentShape,
  perturbation: ChannelPerturbation,
): Float32Array {
  const plane = checkShape(latents, shape);
  checkPerturbation(perturbation, shape);
  const out = new Float32Array(latents.length);
  for (let nc = 0; nc < shape.batch * shape.channels; nc++) {
    const scale = 1 + perturbation.multiplicative[nc];
    const offset = perturbation.additive[nc];
    const end = (nc + 1) * plane;
    for (let i = nc * plane; i < end; i++) out[i] = latents[i] * scale + offset;
  }
  return out;
}

/**
 * Gradient of a score with respect to the perturbation parameters, given its gradient g with respect to the
 * perturbed latents: ∂/∂m[n, c] = Σ_pixels g·z and ∂/∂b[n, c] = Σ_pixels g (chain rule through
 * {@link applyChannelPerturbation}).
 */
export function channelPerturbationGradient(
  latents: Float32Array,
  gradient: Float32Array,
  shape: LatentShape,
): ChannelPerturbation {
  const plane = checkShape(latents, shape);
  if (gradient.length !== latents.length) throw new RangeError("gradient and latents differ in length");
  const n = shape.batch * shape.channels;
  const multiplicative = new Float32Array(n);
  const additive = new Float32Array(n);
  for (let nc = 0; nc < n; nc++) {
    let dm = 0;
    let db = 0;
    const end = (nc + 1) * plane;
    for (let i = nc * plane; i < end; i++) {
      dm += gradient[i] * latents[i];
      db += gradient[i];
    }
    multiplicative[nc] = dm;
    additive[nc] = db;
  }
  return { multiplicative, additive };
}

/** One signed-gradient ascent step on the parameters (GIF uses step 0.1): p + step·sign(∂score/∂p). */
export function signGradientStep(
  perturbation: ChannelPerturbation,
  gradient: ChannelPerturbation,
  stepSize = 0.1,
): ChannelPerturbation {
  const step = (values: Float32Array, grads: Float32Array) => {
    if (values.length !== grads.length) throw new RangeError("perturbation and gradient differ in length");
    return Float32Array.from(values, (v, i) => v + stepSize * Math.sign(grads[i]));
  };
  return {
    multiplicative: step(perturbation.multiplicative, gradient.multiplicative),
    additive: step(perturbation.additive, gradient.additive),
  };
}

/**
 * Projection onto the L∞ ball of radius ε around `center` (GIF's `linfball_proj`): every value is clamped to
 * [center − ε, center + ε].
 */
export function projectLinfBall(
  perturbed: Float32Array,
  center: Float32Array,
  epsilon: number,
): Float32Array {
  if (perturbed.length !== center.length)
    throw new RangeError("perturbed and center latents differ in length");
  if (!(epsilon >= 0)) throw new RangeError(`epsilon must be ≥ 0, got ${epsilon}`);
  const out = new Float32Array(perturbed.length);
  for (let i = 0; i < out.length; i++) {
    out[i] = Math.min(Math.max(perturbed[i], center[i] - epsilon), center[i] + epsilon);
  }
  return out;
}
