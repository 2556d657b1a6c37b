/**
 * "tinted digits": the pretraining set of the classifier's pretrained backbone (shared/classifier
 * backbones.ts) — the train split of the built-in mnist set, each digit redrawn `views` times as a 32×32
 * RGB image with a random ink colour, position and noise. Its classes (the ten digits) are none
 * of the benchmark tasks' (garments, textures), and its pixels come from another source, so a backbone
 * trained on it has never seen a task's class or image (checked against every built-in task's digests in
 * shared/classifier/backbone-provenance.test.ts).
 *
 * Every image is a pure function of (seed, mnist index, view): it draws from its own stream
 * `Rng(seed, index · views + view)`, like the textures generator (procedural.ts), and is
 *
 *   value(x, y) = ink · digit(x − dx, y − dy) + σ · noise      (per RGB channel)
 *
 * with a random ink colour (luma ≥ 0.5) on black, an integer offset of the 28-px digit inside the canvas
 * and uniform pixel noise of a random level, drawn independently of the class.
 */
import { Rng } from "../random/index.js";
import { builtinSource, loadBuiltinDataset } from "./builtin.js";
import type { ByteDataset } from "./byte-dataset.js";
import { DataError } from "./errors.js";
import { contrastingColours } from "./procedural.js";

/** Bump when anything that changes the rendered bytes changes (a formula, a range, the order of draws). */
export const TINTED_DIGITS_VERSION = 1;
/** The generator's name and version, as a backbone manifest records it. */
export const TINTED_DIGITS_GENERATOR = `shared/data/tinted-digits.ts v${TINTED_DIGITS_VERSION}`;
/** Seed of the committed backbone's pretraining set. */
export const TINTED_DIGITS_SEED = 20_261_208;
/** Renderings of each digit (different colours, offset, shade and noise). */
export const TINTED_DIGITS_VIEWS = 2;
/** Canvas side: the size of the textures task and of the model kit. */
export const TINTED_DIGITS_SIZE = 32;

/** Options of {@link renderTintedDigits}. */
export interface TintedDigitsOptions {
  /** Default {@link TINTED_DIGITS_SEED}. */
  readonly seed?: number;
  /** Default {@link TINTED_DIGITS_VIEWS}. */
  readonly views?: number;
  /** Canvas side, at least the digits' side; default {@link TINTED_DIGITS_SIZE}. */
  readonly size?: number;
}

/** A rendered set: RGB bytes (CHW per image), in the order of the source indices, views adjacent. */
export interface TintedDigitSet {
  readonly classNames: readonly string[];
  readonly channels: 3;
  readonly height: number;
  readonly width: number;
  readonly pixels: Uint8Array;
  readonly labels: Int32Array;
  /** Per image: the index of its digit in the source dataset. */
  readonly source: Int32Array;
  /** Per image: which rendering of that digit it is. */
  readonly view: Int32Array;
}

/** BT.601 luma of an RGB colour in [0, 1]. */
function luma(rgb: readonly number[]): number {
  return 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2];
}

/**
 * A random ink colour of luma at least 0.5 (the brighter of two contrasting colours, scaled up if need
 * be), drawn on black as mnist's own digits are. Random backgrounds, either polarity and an illumination
 * gradient (the textures' nuisances) kept the network at chance for 400 steps of batch 64 and again with
 * the ink always the brighter: more than this machine's budget for pretraining could overcome.
 */
function inkColour(rng: Rng): number[] {
  const [a, b] = contrastingColours(rng);
  const brighter = luma(a) >= luma(b) ? a : b;
  const gain = Math.max(1, 0.5 / Math.max(luma(brighter), 1e-6));
  return brighter.map((v) => Math.min(1, v * gain));
}

function uniform(rng: Rng, lo: number, hi: number): number {
  return lo + (hi - lo) * rng.nextFloat();
}

/**
 * Renders every digit of `mnist` at `indices` (a gray single-channel dataset, e.g. its `train` split)
 * `views` times. A pure function of its arguments.
 */
export function renderTintedDigits(
  mnist: ByteDataset,
  indices: ArrayLike<number>,
  options: TintedDigitsOptions = {},
): TintedDigitSet {
  const seed = options.seed ?? TINTED_DIGITS_SEED;
  const views = options.views ?? TINTED_DIGITS_VIEWS;
  const size = options.size ?? TINTED_DIGITS_SIZE;
  if (mnist.channels !== 1 || mnist.height !== mnist.width)
    throw new DataError("invalid_argument", "tinted digits need a square single-channel source");
  const side = mnist.height;
  if (!Number.isInteger(size) || size < side || size > 256)
    throw new DataError("invalid_argument", `size must be an integer in [${side}, 256], got ${size}`);
  if (!Number.isInteger(views) || views < 1 || views > 16)
    throw new DataError("invalid_argument", `views must be an integer in [1, 16], got ${views}`);
  const count = indices.length * views;
  const plane = size * size;
  const pixels = new Uint8Array(count * 3 * plane);
  const labels = new Int32Array(count);
  const source = new Int32Array(count);
  const view = new Int32Array(count);
  const digit = side * side;
  for (let i = 0; i < indices.length; i++) {
    const from = indices[i];
    if (!Number.isInteger(from) || from < 0 || from >= mnist.labels.length)
      throw new DataError("invalid_argument", `index ${from} is outside the source`);
    const glyph = mnist.pixels.subarray(from * digit, (from + 1) * digit);
    for (let v = 0; v < views; v++) {
      const k = i * views + v;
      labels[k] = mnist.labels[from];
      source[k] = from;
      view[k] = v;
      const rng = new Rng(seed, from * views + v);
      // Draws, in this order: the ink colour, offset, noise level, then one per pixel.
      const ink = inkColour(rng);
      const dx = rng.nextInt(size - side + 1);
      const dy = rng.nextInt(size - side + 1);
      const noiseScale = Math.sqrt(12) * uniform(rng, 0.02, 0.08);
      const base = k * 3 * plane;
      for (let row = 0; row < size; row++) {
        const gr = row - dy;
        for (let col = 0; col < size; col++) {
          const gc = col - dx;
          const d = gr >= 0 && gr < side && gc >= 0 && gc < side ? glyph[gr * side + gc] / 255 : 0;
          const bits = rng.nextUint32();
          for (let ch = 0; ch < 3; ch++) {
            const noise = (((bits >>> (10 * ch)) & 0x3ff) + 0.5) / 1024 - 0.5;
            const value = ink[ch] * d + noiseScale * noise;
            pixels[base + ch * plane + row * size + col] = Math.round(255 * Math.min(1, Math.max(0, value)));
          }
        }
      }
    }
  }
  return {
    classNames: mnist.classNames,
    channels: 3,
    height: size,
    width: size,
    pixels,
    labels,
    source,
    view,
  };
}

/**
 * The tinted digits of one split of the built-in mnist set (train: the backbone's pretraining set; test:
 * its held-out check), from the dataset cache when it is there.
 */
export async function loadTintedDigits(
  split: "train" | "test",
  options: TintedDigitsOptions & { readonly cacheDir?: string } = {},
): Promise<
  TintedDigitSet & {
    readonly sourcePixels: Uint8Array;
    readonly sourceImageBytes: number;
    readonly sourceVersion: string;
  }
> {
  const mnist = await loadBuiltinDataset("mnist", { cacheDir: options.cacheDir });
  const indices = split === "train" ? mnist.train : mnist.test;
  const digit = mnist.height * mnist.width;
  const sourcePixels = new Uint8Array(indices.length * digit);
  indices.forEach((from, i) => {
    sourcePixels.set(mnist.pixels.subarray(from * digit, (from + 1) * digit), i * digit);
  });
  const { version } = await builtinSource("mnist");
  return {
    ...renderTintedDigits(mnist, indices, options),
    sourcePixels,
    sourceImageBytes: digit,
    sourceVersion: version,
  };
}
