import { philox4x32 } from "./philox.js";

/** Largest seed accepted: seeds travel as JSON numbers and protobuf uint64, so keep them exact doubles. */
export const MAX_SEED = Number.MAX_SAFE_INTEGER;

function splitSeed(seed: number): [number, number] {
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new RangeError(`seed must be an integer in [0, ${MAX_SEED}], got ${seed}`);
  }
  return [seed >>> 0, Math.floor(seed / 0x1_0000_0000) >>> 0];
}

/**
 * A seeded stream of random numbers. `stream` selects an independent sequence for the same seed (for
 * example the index of a sample), so that per-sample draws never depend on the order of other draws.
 */
export class Rng {
  readonly #key: [number, number];
  readonly #stream: number;
  #block = 0;
  readonly #words = new Uint32Array(4);
  #used = 4;
  #spareNormal: number | undefined;

  constructor(seed: number, stream = 0) {
    this.#key = splitSeed(seed);
    if (!Number.isInteger(stream) || stream < 0 || stream > 0xffff_ffff) {
      throw new RangeError(`stream must be a 32-bit unsigned integer, got ${stream}`);
    }
    this.#stream = stream;
  }

  /** A uniform 32-bit unsigned integer. */
  nextUint32(): number {
    if (this.#used === 4) {
      const block = this.#block++;
      philox4x32(
        block >>> 0,
        Math.floor(block / 0x1_0000_0000),
        this.#stream,
        0,
        this.#key[0],
        this.#key[1],
        this.#words,
      );
      this.#used = 0;
    }
    return this.#words[this.#used++];
  }

  /** A uniform float in [0, 1) with 32 bits of randomness. */
  nextFloat(): number {
    return this.nextUint32() / 0x1_0000_0000;
  }

  /** A uniform integer in [0, n). Rejection sampling keeps it unbiased. */
  nextInt(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > 0x1_0000_0000)
      throw new RangeError(`nextInt needs 1 ≤ n ≤ 2^32, got ${n}`);
    const limit = 0x1_0000_0000 - (0x1_0000_0000 % n);
    for (;;) {
      const value = this.nextUint32();
      if (value < limit) return value % n;
    }
  }

  /** A standard normal draw (Box–Muller; the second value of each pair is kept for the next call). */
  nextNormal(): number {
    if (this.#spareNormal !== undefined) {
      const spare = this.#spareNormal;
      this.#spareNormal = undefined;
      return spare;
    }
    // 1 - u keeps the logarithm finite: u is in [0, 1).
    const radius = Math.sqrt(-2 * Math.log(1 - this.nextFloat()));
    const angle = 2 * Math.PI * this.nextFloat();
    this.#spareNormal = radius * Math.sin(angle);
    return radius * Math.cos(angle);
  }

  /** Fills `out` with standard normal draws and returns it. */
  fillNormal(out: Float32Array): Float32Array {
    for (let i = 0; i < out.length; i++) out[i] = this.nextNormal();
    return out;
  }

  /** Shuffles `items` in place (Fisher–Yates) and returns it. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.nextInt(i + 1);
      const held = items[i];
      items[i] = items[j];
      items[j] = held;
    }
    return items;
  }
}

/**
 * Standard normal noise for one sample: depends only on (seed, sampleIndex), never on the batch the sample
 * is generated in.
 */
export function sampleNoise(seed: number, sampleIndex: number, length: number): Float32Array {
  return new Rng(seed, sampleIndex).fillNormal(new Float32Array(length));
}
