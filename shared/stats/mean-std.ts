/** Mean and sample standard deviation (n − 1; null below two values) and how many values they cover. */
export interface MeanStd {
  mean: number | null;
  std: number | null;
  n: number;
}

/** Mean and sample standard deviation of the finite values among `values` (nulls are skipped). */
export function meanStd(values: readonly (number | null | undefined)[]): MeanStd {
  const xs = values.filter((v): v is number => typeof v === "number" && Number.isFinite(v));
  const n = xs.length;
  if (n === 0) return { mean: null, std: null, n };
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const std = n < 2 ? null : Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1));
  return { mean, std, n };
}
