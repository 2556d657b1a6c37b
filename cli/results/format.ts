/** Number formats of the results: accuracies in percent, gains in percentage points, mean ± std. */
import type { MeanStd } from "../client/types.js";

/** An accuracy in [0, 1] as percent with `digits` decimals, e.g. `61.25`; `—` when missing. */
export function percent(value: number | null | undefined, digits = 2): string {
  return typeof value === "number" && Number.isFinite(value) ? (value * 100).toFixed(digits) : "—";
}

/** A difference of accuracies in percentage points with its sign, e.g. `+1.50` or `-0.25`. */
export function points(value: number | null | undefined, digits = 2): string {
  if (typeof value !== "number" || !Number.isFinite(value)) return "—";
  const text = (value * 100).toFixed(digits);
  // -0.00 reads as a loss: a rounded zero is shown unsigned.
  if (Number(text) === 0) return (0).toFixed(digits);
  return value > 0 ? `+${text}` : text;
}

/**
 * Mean ± std of accuracies in percent (`61.25 ± 0.42`), or of gains in points with `signed`
 * (`+1.50 ± 0.30`). One value (no std) shows the mean alone; no value shows `—`.
 */
export function formatMeanStd(stats: MeanStd, options: { signed?: boolean; digits?: number } = {}): string {
  const digits = options.digits ?? 2;
  if (stats.mean === null) return "—";
  const mean = options.signed ? points(stats.mean, digits) : percent(stats.mean, digits);
  return stats.std === null ? mean : `${mean} ± ${(stats.std * 100).toFixed(digits)}`;
}

/** Seconds with a precision that suits their size: `0.42 s`, `12.3 s`, `245 s`. */
export function seconds(value: number | null | undefined): string {
  if (typeof value !== "number" || !Number.isFinite(value)) return "—";
  if (value < 10) return `${value.toFixed(2)} s`;
  if (value < 100) return `${value.toFixed(1)} s`;
  return `${Math.round(value)} s`;
}
