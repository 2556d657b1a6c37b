import { philox4x32, Rng } from "../random/index.js";

/**
 * Identifies one sample's randomness: the request seed and the sample's index in the request (not its
 * position in a batch). Noise drawn for a sample depends only on this key, so a sample generated alone or
 * in a batch of any size, on any replica, gets the same numbers.
 */
export interface SampleKey {
  readonly seed: number;
  readonly index: number;
}

/** Purposes that get independent random streams from the same (seed, sample index). */
export const NoisePurpose = Object.freeze({
  /** Fresh noise added by a stochastic scheduler step (DDPM, DDIM with η > 0, Euler ancestral). */
  schedulerStep: 1,
  /** The random angle of Diff-II circle interpolation. */
  circleAngle: 2,
  /** GIF's random channel-wise perturbation parameters. */
  channelPerturbation: 3,
  /** DiffuseMix's random choice of concatenation orientation. */
  halfConcat: 4,
  /** Sampling the VAE encoder's latent distribution (img2img, GIF, InstructPix2Pix-free encodes). */
  vaeSample: 5,
  /** DiffuseMix's random choice of fractal image. */
  fractal: 6,
  /** Diff-Mix's uniformly drawn target class. */
  targetClass: 7,
  /** Diff-II's draw of prompt suffixes. */
  promptSuffix: 8,
  /** A random prompt template (DiffuseMix's style instruction). */
  promptChoice: 9,
});

const SEED_DERIVATION_TAG = 0x64696664; // "difd"
const scratch = new DataView(new ArrayBuffer(8));
const block = new Uint32Array(4);

/**
 * A 53-bit seed derived from (seed, purpose, value) with one Philox4x32-10 block keyed by `seed`, so that
 * streams for different purposes or timesteps are independent. `value` may be fractional (Euler timesteps
 * are); its float64 bit pattern is the counter.
 */
export function derivedSeed(seed: number, purpose: number, value = 0): number {
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new RangeError(`seed must be a non-negative safe integer, got ${seed}`);
  }
  scratch.setFloat64(0, value);
  philox4x32(
    scratch.getUint32(4),
    scratch.getUint32(0),
    purpose >>> 0,
    SEED_DERIVATION_TAG,
    seed >>> 0,
    Math.floor(seed / 0x1_0000_0000) >>> 0,
    block,
  );
  return (block[0] & 0x1f_ffff) * 0x1_0000_0000 + block[1];
}

/** A random stream for one sample and one purpose (and optionally one timestep). */
export function sampleRng(key: SampleKey, purpose: number, value = 0): Rng {
  return new Rng(derivedSeed(key.seed, purpose, value), key.index);
}

/**
 * Standard normal noise for a scheduler step: sample `key` at training timestep `timestep`. Depends only on
 * (seed, sample index, timestep).
 */
export function stepNoise(key: SampleKey, timestep: number, length: number): Float32Array {
  return sampleRng(key, NoisePurpose.schedulerStep, timestep).fillNormal(new Float32Array(length));
}

/**
 * Noise for a stochastic step: either one key per sample of the batch (noise drawn with {@link stepNoise}),
 * or the noise itself, already laid out like the batch (diffusers' `variance_noise`).
 */
export type NoiseInput = readonly SampleKey[] | Float32Array;

/** Resolves a {@link NoiseInput} to a batch-major noise array of `length` values for `timestep`. */
export function resolveNoise(
  noise: NoiseInput | undefined,
  timestep: number,
  length: number,
  who: string,
): Float32Array {
  if (noise === undefined) {
    throw new TypeError(
      `${who} is stochastic: pass per-sample noise keys ({seed, index} per sample) or noise`,
    );
  }
  if (noise instanceof Float32Array) {
    if (noise.length !== length)
      throw new RangeError(`noise has ${noise.length} values, sample has ${length}`);
    return noise;
  }
  const batch = noise.length;
  if (batch === 0 || length % batch !== 0) {
    throw new RangeError(`${length} values cannot be split into ${batch} samples`);
  }
  const size = length / batch;
  const out = new Float32Array(length);
  for (let s = 0; s < batch; s++) out.set(stepNoise(noise[s], timestep, size), s * size);
  return out;
}
