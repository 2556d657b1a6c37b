/**
 * The table's arithmetic: mean ± sample standard deviation over seeds, and gains paired by seed (the
 * difference on each seed both methods ran, then its mean ± std) — the same statistics the gateway and
 * the CLI report for one job, here over the cells of the grid.
 */

import type { MeanStd } from "../../cli/client/types.js";
import { meanStd } from "../../shared/stats/index.js";

export type { MeanStd };
export { meanStd };

/** Mean ± std of per-seed values, with the seeds and values it came from. */
export interface SeedStats extends MeanStd {
  /** Seeds in ascending order. */
  readonly seeds: readonly number[];
  /** The value of each seed, in `seeds` order. */
  readonly values: readonly number[];
}

/** Mean ± std of values keyed by seed. */
export function seedStats(bySeed: ReadonlyMap<number, number>): SeedStats {
  const seeds = [...bySeed.keys()].sort((a, b) => a - b);
  const values = seeds.map((s) => bySeed.get(s) as number);
  return { ...meanStd(values), seeds, values };
}

/**
 * `method − baseline` on every seed both have, then mean ± std of the differences. Pairing by seed removes
 * what the seed shares between the two (the few-shot draw, the classifier's initialisation), so the
 * spread is that of the gain, not of the draws.
 */
export function pairedGain(
  method: ReadonlyMap<number, number>,
  baseline: ReadonlyMap<number, number>,
): SeedStats {
  const differences = new Map<number, number>();
  for (const [seed, value] of method) {
    const reference = baseline.get(seed);
    if (reference !== undefined) differences.set(seed, value - reference);
  }
  return seedStats(differences);
}
