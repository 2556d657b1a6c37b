/**
 * The tasks of an `auto` method (search/search-spec.ts), planned up front like every other method's:
 *
 * ```
 * finetune (train∖val) ──▶ generate <c>   ──▶ rung 0: train <c> ▶ evaluate <c> on val (every candidate) ──▶ select rung 0
 *                                          ──▶ rung 1: train <c> ▶ evaluate <c> (survivors of rung 0; the others skip) ──▶ select rung 1 …
 *                                          ──▶ the choice: train <auto> on every training image ▶ evaluate <auto> on test (per job seed)
 * ```
 *
 * Candidates fine-tune and generate from the training images less the validation split only, and are
 * scored on it; the test split is read once, by the chosen method's evaluations. Which candidates a later
 * rung trains, and which one the final runs use, are decided when the select tasks run: tasks of a
 * dropped candidate finish at once with a `skipped` output, so the DAG itself never changes.
 */
import type { JobSpec } from "../job-spec.js";
import {
  type EvaluateInput,
  finetuneKey,
  type GenerateInput,
  MAX_ATTEMPTS,
  type TrainInput,
} from "../orchestrator/planner.js";
import type { NewTask } from "../store/index.js";
import type { SearchSpec } from "./search-spec.js";

/** Input of a select task: rank the candidates after rung `rung`. */
export interface SelectInput {
  rung: number;
  /** The evaluate tasks of the rungs so far, by candidate. */
  evaluateTasks: Record<string, string[]>;
}

/** Key of the select task closing rung `rung`. */
export function selectKey(search: Pick<SearchSpec, "label">, rung: number): string {
  return `select:${search.label}:rung=${rung}`;
}

/** Key prefix of the search's fine-tuning tasks (they train on the validation split's complement). */
function searchFinetuneKey(finetuning: Parameters<typeof finetuneKey>[0]): string {
  return finetuneKey(finetuning).replace(/^finetune:/, "finetune:search:");
}

/** The search's tasks; returns them and the evaluate tasks of the chosen method (the summary waits on them). */
export function planSearch(
  spec: JobSpec & { search: SearchSpec },
  trainCount: number,
  firstShard: number,
): { tasks: NewTask[]; evaluates: string[] } {
  const search = spec.search;
  const tasks: NewTask[] = [];
  const finetunes = new Map<string, string[]>();
  for (const c of search.candidates) {
    if (c.generation === null || c.finetuning.method === "none" || c.syntheticOf !== c.label) continue;
    const key = searchFinetuneKey(c.finetuning);
    if (!finetunes.has(key)) {
      finetunes.set(key, [c.label]);
      tasks.push({
        key,
        kind: "finetune",
        input: { finetuning: c.finetuning, seed: search.seed, methods: [c.label], split: "search" },
        maxAttempts: MAX_ATTEMPTS.finetune,
      });
    } else finetunes.get(key)!.push(c.label);
  }

  // One synthetic set per distinct generation, numbered over every training image: a shard's range is
  // clipped to the images the split leaves for training when it runs.
  const generates = new Map<string, string[]>();
  let shardIndex = firstShard;
  for (const c of search.candidates) {
    if (c.generation === null || c.syntheticOf !== c.label) continue;
    const ft = c.finetuning.method === "none" ? null : searchFinetuneKey(c.finetuning);
    const keys: string[] = [];
    const total = trainCount * c.generation.syntheticPerReal;
    for (let first = 0; first < total; first += spec.shardSize) {
      const key = `generate:${c.label}:seed=${search.seed}:shard=${shardIndex}`;
      const input: GenerateInput = {
        method: c.label,
        seed: search.seed,
        shardIndex,
        firstSampleIndex: first,
        count: Math.min(spec.shardSize, total - first),
        samplesPerSource: c.generation.syntheticPerReal,
        finetuneTask: ft,
        split: "search",
      };
      tasks.push({
        key,
        kind: "generate",
        dependsOn: ft === null ? [] : [ft],
        input,
        maxAttempts: MAX_ATTEMPTS.generate,
      });
      keys.push(key);
      shardIndex++;
    }
    generates.set(c.label, keys);
  }
  const shardsOf = (label: string | null) => (label === null ? [] : (generates.get(label) ?? []));

  const evaluated: Record<string, string[]> = {};
  let previous: string | null = null;
  search.rungSeeds.forEach((seeds, rung) => {
    const closing: string[] = [];
    for (const c of search.candidates) {
      for (const seed of seeds) {
        const train = `train:${c.label}:seed=${seed}`;
        const trainInput: TrainInput = {
          method: c.label,
          seed,
          generateTasks: shardsOf(c.syntheticOf),
          split: "search",
          ...(c.syntheticOf === null ? {} : { synthetic: { method: c.syntheticOf, seed: search.seed } }),
          ...(previous === null ? {} : { survivorsOf: previous }),
        };
        const dependsOn = [...trainInput.generateTasks, ...(previous === null ? [] : [previous])];
        tasks.push({
          key: train,
          kind: "train",
          dependsOn,
          input: trainInput,
          maxAttempts: MAX_ATTEMPTS.train,
        });
        const evaluate = `evaluate:${c.label}:seed=${seed}`;
        const evaluateInput: EvaluateInput = { method: c.label, seed, trainTask: train, split: "search" };
        tasks.push({
          key: evaluate,
          kind: "evaluate",
          dependsOn: [train],
          input: evaluateInput,
          maxAttempts: MAX_ATTEMPTS.evaluate,
        });
        (evaluated[c.label] ??= []).push(evaluate);
        closing.push(evaluate);
      }
    }
    const key = selectKey(search, rung);
    const input: SelectInput = { rung, evaluateTasks: structuredClone(evaluated) };
    tasks.push({
      key,
      kind: "select",
      dependsOn: [...closing, ...(previous === null ? [] : [previous])],
      input,
      maxAttempts: MAX_ATTEMPTS.select,
    });
    previous = key;
  });

  const every = [...generates.values()].flat();
  const evaluates: string[] = [];
  for (const seed of spec.seeds) {
    const run = `${search.label}:seed=${seed}`;
    const trainInput: TrainInput = {
      method: search.label,
      seed,
      generateTasks: every,
      chosenBy: previous!,
    };
    tasks.push({
      key: `train:${run}`,
      kind: "train",
      dependsOn: [...every, previous!],
      input: trainInput,
      maxAttempts: MAX_ATTEMPTS.train,
    });
    const evaluateInput: EvaluateInput = { method: search.label, seed, trainTask: `train:${run}` };
    tasks.push({
      key: `evaluate:${run}`,
      kind: "evaluate",
      dependsOn: [`train:${run}`],
      input: evaluateInput,
      maxAttempts: MAX_ATTEMPTS.evaluate,
    });
    evaluates.push(`evaluate:${run}`);
  }
  return { tasks, evaluates };
}
