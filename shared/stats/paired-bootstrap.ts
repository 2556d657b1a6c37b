/**
 * A paired bootstrap interval for the accuracy difference of two classifiers evaluated on the same test
 * images over the same seeds. Each resample draws the seeds with replacement and, independently, the
 * test images with replacement (the same images for every seed and both classifiers, so the pairing
 * holds), and takes the mean over the drawn seeds of (accuracy of A − accuracy of B) on the drawn images.
 * The interval is the percentile interval of those resampled differences. Resampling both levels makes
 * the interval reflect both sources of noise a few-shot comparison has: which seed (few-shot draw,
 * initialisation, generation) and which test images.
 */
import { Rng } from "../random/index.js";

/** Options of {@link pairedBootstrap}. */
export interface BootstrapOptions {
  /** Coverage of the interval (default 0.95). */
  level?: number;
  /** Resamples (default 2000). */
  resamples?: number;
  /** Seed of the resampling (default 0): the same inputs give the same interval. */
  seed?: number;
}

/** The observed difference with its interval. */
export interface PairedInterval {
  /** Mean over seeds of accuracy(A) − accuracy(B) on the whole test set. */
  difference: number;
  low: number;
  high: number;
  level: number;
  resamples: number;
  /** Seeds and test images the interval is over. */
  seeds: number;
  images: number;
  /** Whether the interval excludes 0: the test split resolves the sign of the difference. */
  resolved: boolean;
}

/**
 * `a[s][i]` and `b[s][i]`: whether classifier A (B) got test image i right in seed s (1 or 0). Every row
 * must have the same length, and `a` and `b` the same number of rows.
 */
export function pairedBootstrap(
  a: readonly ArrayLike<number>[],
  b: readonly ArrayLike<number>[],
  options: BootstrapOptions = {},
): PairedInterval {
  const level = options.level ?? 0.95;
  const resamples = options.resamples ?? 2000;
  const seeds = a.length;
  if (seeds === 0 || seeds !== b.length)
    throw new Error("pairedBootstrap: a and b need the same seeds (≥ 1)");
  const images = a[0].length;
  if (images === 0) throw new Error("pairedBootstrap: no test images");
  // d[s][i] ∈ {−1, 0, 1}: the per-image difference, the only thing a resample needs.
  const d = a.map((row, s) => {
    if (row.length !== images || b[s].length !== images) throw new Error("pairedBootstrap: ragged rows");
    return Int8Array.from({ length: images }, (_, i) => row[i] - b[s][i]);
  });
  const mean = (rows: readonly Int8Array[], pick: (s: number) => number, image: (i: number) => number) => {
    let total = 0;
    for (let s = 0; s < rows.length; s++) {
      const row = rows[pick(s)];
      let sum = 0;
      for (let i = 0; i < images; i++) sum += row[image(i)];
      total += sum / images;
    }
    return total / rows.length;
  };
  const difference = mean(
    d,
    (s) => s,
    (i) => i,
  );
  const rng = new Rng(options.seed ?? 0, 0x0b00);
  const draws = new Float64Array(resamples);
  const seedPick = new Int32Array(seeds);
  const imagePick = new Int32Array(images);
  for (let r = 0; r < resamples; r++) {
    for (let s = 0; s < seeds; s++) seedPick[s] = rng.nextInt(seeds);
    for (let i = 0; i < images; i++) imagePick[i] = rng.nextInt(images);
    draws[r] = mean(
      d,
      (s) => seedPick[s],
      (i) => imagePick[i],
    );
  }
  draws.sort();
  const tail = (1 - level) / 2;
  const at = (q: number) => draws[Math.min(resamples - 1, Math.max(0, Math.floor(q * resamples)))];
  const low = at(tail);
  const high = at(1 - tail);
  return { difference, low, high, level, resamples, seeds, images, resolved: low > 0 || high < 0 };
}
