/**
 * The select task of the `auto` method's search: after a rung, ranks the candidates still in the race by
 * their mean validation top-1 over every seed they trained with so far, keeps the better half (and the
 * no-augmentation reference) for the next rung, and names the best one. A candidate is chosen only when it
 * beats the reference by the search's `minGain` and the evidence holds: the lower end of the paired
 * bootstrap interval of its gain (over the seeds both trained with and the validation images, at the
 * search's `confidence`) is above 0. Otherwise the choice is the reference: no augmentation. A small
 * validation split therefore rarely changes the default; that is the point.
 */
import { pairedBootstrap } from "../../../../../shared/stats/index.js";

import type { SelectInput } from "../../search/plan-search.js";
import { type SearchSpec, survivorsOf } from "../../search/search-spec.js";
import type { TaskHandler } from "../task-runner.js";
import type { JobLoader } from "./context.js";
import type { EvaluateOutput } from "./evaluate.js";

/** One validation run: its top-1 and, per validation image, whether it was right (absent: not reported). */
interface ValidationRun {
  seed: number;
  top1Accuracy: number;
  correct?: number[];
}

/** A candidate's standing after a rung. */
interface Standing {
  label: string;
  mean: number;
  runs: { seed: number; top1Accuracy: number }[];
}

/** How strongly the validation split supports the best candidate over the reference. */
interface Evidence {
  /** The best candidate's mean gain over the reference on the seeds both ran (0–1). */
  gain: number;
  /** Its paired bootstrap interval (null: the runs reported no per-image results). */
  interval: { low: number; high: number; level: number; seeds: number; images: number } | null;
}

/** Output of a select task. */
export interface SelectOutput {
  rung: number;
  /** The candidates this rung scored, best first. */
  ranking: Standing[];
  /** Those the next rung trains. */
  survivors: string[];
  /** The best so far: a candidate that beats the reference by minGain, else the reference. */
  chosen: string;
  recommendation: "augment" | "no_augmentation";
  /** The best candidate against the reference (null: nothing to compare). */
  evidence: Evidence | null;
}

/** Ranks, halves and chooses (pure: the handler reads the evaluations, this decides). */
export function selectCandidates(
  search: Pick<SearchSpec, "candidates" | "minGain" | "rungSeeds" | "confidence">,
  rung: number,
  scores: ReadonlyMap<string, ValidationRun[]>,
): SelectOutput {
  const reference = search.candidates[0].label;
  const order = new Map(search.candidates.map((c, k) => [c.label, k]));
  const seeds = new Set(search.rungSeeds[rung]);
  const ranking: Standing[] = [...scores]
    // Ranked: the candidates this rung trained (those dropped before have no run on its seeds).
    .filter(([, runs]) => runs.some((r) => seeds.has(r.seed)))
    .map(([label, runs]) => ({
      label,
      runs: runs.map(({ seed, top1Accuracy }) => ({ seed, top1Accuracy })),
      mean: runs.reduce((s, r) => s + r.top1Accuracy, 0) / runs.length,
    }))
    // Ties go to the earlier candidate: the space lists cheaper settings first.
    .sort((a, b) => b.mean - a.mean || order.get(a.label)! - order.get(b.label)!);
  const best = ranking.find((s) => s.label !== reference);
  const evidence =
    best === undefined || !scores.has(reference)
      ? null
      : evidenceOf(scores.get(best.label)!, scores.get(reference)!, search.confidence ?? DEFAULT_CONFIDENCE);
  const augment =
    best !== undefined &&
    evidence !== null &&
    evidence.gain >= search.minGain &&
    (evidence.interval === null || evidence.interval.low > 0);
  return {
    rung,
    ranking,
    survivors: survivorsOf(ranking, reference),
    chosen: augment ? best.label : reference,
    recommendation: augment ? "augment" : "no_augmentation",
    evidence,
  };
}

/** Level of the interval when a stored search predates `confidence`. */
const DEFAULT_CONFIDENCE = 0.9;

/** The gain of `a` over `b` on the seeds both ran, with its paired interval over seeds and images. */
function evidenceOf(a: readonly ValidationRun[], b: readonly ValidationRun[], level: number): Evidence {
  const other = new Map(b.map((r) => [r.seed, r]));
  const pairs = a.filter((r) => other.has(r.seed)).map((r) => [r, other.get(r.seed)!] as const);
  const gain =
    pairs.reduce((s, [x, y]) => s + x.top1Accuracy - y.top1Accuracy, 0) / Math.max(1, pairs.length);
  const rows = pairs.filter(
    ([x, y]) => x.correct !== undefined && x.correct.length > 0 && x.correct.length === y.correct?.length,
  );
  if (rows.length === 0 || rows.length !== pairs.length) return { gain, interval: null };
  const { low, high, seeds, images } = pairedBootstrap(
    rows.map(([x]) => x.correct!),
    rows.map(([, y]) => y.correct!),
    { level },
  );
  return { gain, interval: { low, high, level, seeds, images } };
}

/** Builds the handler. */
export function selectHandler(loader: JobLoader): TaskHandler {
  return async (task) => {
    const input = task.input as SelectInput;
    const job = await loader.job(task.jobId);
    const search = job.spec.search;
    if (search === undefined) throw new Error(`job ${task.jobId} has no search`);
    const keys = Object.values(input.evaluateTasks).flat();
    const outputs = await loader.outputs(task.jobId, keys);
    const scores = new Map<string, ValidationRun[]>();
    for (const [label, evaluates] of Object.entries(input.evaluateTasks)) {
      const runs = evaluates.flatMap((key) => {
        const output = outputs.get(key) as EvaluateOutput | { skipped: true };
        const seed = Number(key.slice(key.lastIndexOf("=") + 1));
        return "skipped" in output
          ? []
          : [
              {
                seed,
                top1Accuracy: output.top1Accuracy,
                ...(output.correct ? { correct: output.correct } : {}),
              },
            ];
      });
      scores.set(label, runs);
    }
    return { output: selectCandidates(search, input.rung, scores) };
  };
}
