/**
 * What the job result says about an `auto` method: the trace of its search (each candidate's setting and
 * validation scores, who survived each rung, the choice and its compute), the method entry its final runs
 * fill like any other method's, and a warning when it chose no augmentation.
 */
import type { JobSpec, ResolvedMethod } from "../job-spec.js";
import type { SelectOutput } from "../orchestrator/handlers/select.js";
import type { Task } from "../store/index.js";
import { selectKey } from "./plan-search.js";
import type { CandidateSetting, SearchCandidate, SearchSpec } from "./search-spec.js";

/** `result.search` (schemas/search.ts searchTraceSchema). */
export interface SearchTrace {
  label: string;
  validationImages: number;
  candidates: {
    label: string;
    setting: CandidateSetting;
    validation: { mean: number | null; runs: { seed: number; top1Accuracy: number }[] };
    /** How many rungs it trained in (1: dropped after the first). */
    rungsReached: number;
  }[];
  rungs: { seeds: number[]; survivors: string[] }[];
  chosen: { label: string; setting: CandidateSetting } | null;
  recommendation: SelectOutput["recommendation"] | null;
  /** The best candidate's validation gain over the reference, with its paired interval. */
  evidence: SelectOutput["evidence"];
  cpuSeconds: number | null;
}

function selectOutputs(spec: JobSpec, byKey: ReadonlyMap<string, Task>): (SelectOutput | undefined)[] {
  const search = spec.search;
  if (search === undefined) return [];
  return search.rungSeeds.map((_, r) => byKey.get(selectKey(search, r))?.output as SelectOutput | undefined);
}

/** The candidate the search chose, once its last rung is selected. */
export function chosenCandidate(spec: JobSpec, byKey: ReadonlyMap<string, Task>): SearchCandidate | null {
  const last = selectOutputs(spec, byKey).at(-1);
  return spec.search?.candidates.find((c) => c.label === last?.chosen) ?? null;
}

/** The method the auto entry of the results describes: the chosen candidate, under the search's label. */
export function autoMethod(search: SearchSpec, chosen: SearchCandidate): ResolvedMethod {
  const { setting, syntheticOf, ...method } = chosen;
  return { ...method, label: search.label, preset: "auto" };
}

/** Whether a task belongs to the search (its candidates, fine-tuning and selections), not the final runs. */
function isSearchTask(spec: JobSpec, task: Pick<Task, "key">): boolean {
  const search = spec.search;
  if (search === undefined) return false;
  return (
    task.key.startsWith("finetune:search:") ||
    task.key.startsWith(`select:${search.label}:`) ||
    search.candidates.some((c) => task.key.includes(`:${c.label}:`))
  );
}

/** The search's trace, or null for a job without one. */
export function searchTrace(
  spec: JobSpec,
  tasks: readonly Task[],
  validationImages: number,
): SearchTrace | null {
  const search = spec.search;
  if (search === undefined) return null;
  const byKey = new Map(tasks.map((t) => [t.key, t]));
  const selects = selectOutputs(spec, byKey);
  const last = selects.filter((s) => s !== undefined).at(-1);
  let cpu: number | null = 0;
  for (const task of tasks) {
    if (!isSearchTask(spec, task) || task.state !== "succeeded") continue;
    const value = (task.output as { cpuSeconds?: number | null } | null)?.cpuSeconds;
    if (typeof value === "number") cpu = cpu === null ? null : cpu + value;
    else if (!(task.output as { skipped?: boolean } | null)?.skipped && task.kind !== "select") cpu = null;
  }
  const chosen = search.candidates.find((c) => c.label === last?.chosen);
  return {
    label: search.label,
    validationImages,
    candidates: search.candidates.map((c) => {
      const standing = latestStanding(selects, c.label);
      const reached = selects.filter((s) => s?.ranking.some((r) => r.label === c.label)).length;
      return {
        label: c.label,
        setting: c.setting,
        validation: { mean: standing?.mean ?? null, runs: standing?.runs ?? [] },
        rungsReached: reached,
      };
    }),
    rungs: search.rungSeeds.map((seeds, r) => ({ seeds, survivors: selects[r]?.survivors ?? [] })),
    chosen: chosen === undefined ? null : { label: chosen.label, setting: chosen.setting },
    recommendation: last?.recommendation ?? null,
    evidence: last?.evidence ?? null,
    cpuSeconds: cpu,
  };
}

/** A candidate's standing in the last rung that ranked it (a dropped one's, where it was dropped). */
function latestStanding(selects: readonly (SelectOutput | undefined)[], label: string) {
  for (let r = selects.length - 1; r >= 0; r--) {
    const standing = selects[r]?.ranking.find((s) => s.label === label);
    if (standing !== undefined) return standing;
  }
  return undefined;
}
