/** Mean and spread of one figure over runs (e.g. test top-1 over split seeds). */
export interface MeanStd {
  readonly mean: number;
  /** Sample standard deviation (n − 1 in the denominator); 0 for a single run. */
  readonly std: number;
  readonly n: number;
  readonly values: readonly number[];
}

/** Mean ± sample standard deviation of `values` (at least one). */
export function meanStd(values: readonly number[]): MeanStd {
  const n = values.length;
  if (n === 0) throw new Error("meanStd needs at least one value");
  const mean = values.reduce((a, v) => a + v, 0) / n;
  const variance = n > 1 ? values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1) : 0;
  return { mean, std: Math.sqrt(variance), n, values: [...values] };
}
