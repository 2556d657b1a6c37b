/**
 * The select task of the `auto` method's search: after a rung, ranks the candidates still in the race by
 * their mean validation top-1 over every seed they trained with so far, keeps the better half (and the
 * no-augmentation reference) for the next rung, and names the best one. A candidate is chosen only when it
 * beats the reference by the search's `minGain`; otherwise the choice is the reference: no augmentation.
 */

import type { SelectInput } from "../../search/plan-search.js";
import { type SearchSpec, survivorsOf } from "../../search/search-spec.js";
import type { TaskHandler } from "../task-runner.js";
import type { JobLoader } from "./context.js";
import type { EvaluateOutput } from "./evaluate.js";

/** A candidate's standing after a rung. */
interface Standing {
  label: string;
  mean: number;
  runs: { seed: number; top1Accuracy: number }[];
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
}

/** Ranks, halves and chooses (pure: the handler reads the evaluations, this decides). */
export function selectCandidates(
  search: Pick<SearchSpec, "candidates" | "minGain" | "rungSeeds">,
  rung: number,
  scores: ReadonlyMap<string, { seed: number; top1Accuracy: number }[]>,
): SelectOutput {
  const reference = search.candidates[0].label;
  const order = new Map(search.candidates.map((c, k) => [c.label, k]));
  const seeds = new Set(search.rungSeeds[rung]);
  const ranking: Standing[] = [...scores]
    // Ranked: the candidates this rung trained (those dropped before have no run on its seeds).
    .filter(([, runs]) => runs.some((r) => seeds.has(r.seed)))
    .map(([label, runs]) => ({
      label,
      runs,
      mean: runs.reduce((s, r) => s + r.top1Accuracy, 0) / runs.length,
    }))
    // Ties go to the earlier candidate: the space lists cheaper settings first.
    .sort((a, b) => b.mean - a.mean || order.get(a.label)! - order.get(b.label)!);
  const ref = ranking.find((s) => s.label === reference);
  const best = ranking.find((s) => s.label !== reference);
  const augment = ref !== undefined && best !== undefined && best.mean - ref.mean >= search.minGain;
  return {
    rung,
    ranking,
    survivors: survivorsOf(ranking, reference),
    chosen: augment ? best.label : reference,
    recommendation: augment ? "augment" : "no_augmentation",
  };
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
    const scores = new Map<string, { seed: number; top1Accuracy: number }[]>();
    for (const [label, evaluates] of Object.entries(input.evaluateTasks)) {
      const runs = evaluates.flatMap((key) => {
        const output = outputs.get(key) as EvaluateOutput | { skipped: true };
        const seed = Number(key.slice(key.lastIndexOf("=") + 1));
        return "skipped" in output ? [] : [{ seed, top1Accuracy: output.top1Accuracy }];
      });
      scores.set(label, runs);
    }
    return { output: selectCandidates(search, input.rung, scores) };
  };
}
