/**
 * Summary statistics of a job's result as the CLI reports them: mean ± sample standard deviation over
 * seeds, and the gain of a method over a baseline paired by seed (the difference per seed, then its mean
 * ± std), which is what the gateway computes for the no-augmentation baseline and the CLI also computes
 * against every other baseline.
 */
import type { MeanStd, MethodResult } from "../client/types.js";

/** Mean and sample standard deviation (n − 1; null below two values) of the finite values. */
export function meanStd(values: readonly (number | null | undefined)[]): MeanStd {
  const xs = values.filter((v): v is number => typeof v === "number" && Number.isFinite(v));
  const n = xs.length;
  if (n === 0) return { mean: null, std: null, n };
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const std = n < 2 ? null : Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1));
  return { mean, std, n };
}

/** Top-1 of `method` minus top-1 of `baseline`, per seed both ran, summarised. */
export function pairedGain(method: MethodResult, baseline: MethodResult): MeanStd {
  const reference = new Map(baseline.runs.map((run) => [run.seed, run.top1Accuracy]));
  return meanStd(
    method.runs
      .filter((run) => reference.has(run.seed))
      .map((run) => run.top1Accuracy - reference.get(run.seed)!),
  );
}
