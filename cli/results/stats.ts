/**
 * Summary statistics of a job's result as the CLI reports them: mean ± sample standard deviation over
 * seeds, and the gain of a method over a baseline paired by seed (the difference per seed, then its mean
 * ± std), which is what the gateway computes for the no-augmentation baseline and the CLI also computes
 * against every other baseline.
 */
import { meanStd } from "../../shared/stats/index.js";
import type { MeanStd, MethodResult } from "../client/types.js";

export { meanStd };

/** Top-1 of `method` minus top-1 of `baseline`, per seed both ran, summarised. */
export function pairedGain(method: MethodResult, baseline: MethodResult): MeanStd {
  const reference = new Map(baseline.runs.map((run) => [run.seed, run.top1Accuracy]));
  return meanStd(
    method.runs
      .filter((run) => reference.has(run.seed))
      .map((run) => run.top1Accuracy - reference.get(run.seed)!),
  );
}
