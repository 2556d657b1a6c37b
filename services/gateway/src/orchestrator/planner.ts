/**
 * The JobPlanner: a resolved job spec becomes the task DAG the store keeps.
 *
 * ```
 * finetune:<ft-hash> ──▶ generate:<label>:seed=<s>:shard=<k> (×shards) ──▶ train:<label>:seed=<s> ──▶ evaluate:<label>:seed=<s> ──┐
 *                                              baselines: train:<label>:seed=<s> ──▶ evaluate:<label>:seed=<s> ──┴─▶ summarize
 * ```
 *
 * Methods whose fine-tuning is identical (Diff-Aug, Diff-Mix and Diff-II all run the same TI+LoRA
 * recipe) share one finetune task: it is keyed by a hash of the fine-tuning spec. Fine-tuning runs once
 * per job with the first seed: the dataset is fixed for the job, and the seeds vary generation and
 * classifier training. Shards get job-wide indices (the GenerateShard contract names outputs by
 * job, shard and sample), samples are numbered per (method, seed) run.
 */
import { createHash } from "node:crypto";
import { FILTER_BASELINE } from "../filtering-spec.js";
import type { JobSpec, ResolvedMethod } from "../job-spec.js";
import { planSearch } from "../search/plan-search.js";
import type { NewTask } from "../store/index.js";

/**
 * The backstop on claims per task kind. Retries are decided by the store's budgets (infrastructure
 * failures for TASK_INFRA_RETRY_MS, up to TASK_MAX_LEASE_LOSSES dead owners; a task's own failure is
 * final at once), so this only has to exceed what those allow — about 10 lost leases plus the ~15
 * backoff steps of ten minutes — and stop a task that an accounting mistake would otherwise loop on.
 */
export const MAX_ATTEMPTS: Readonly<Record<TaskKind, number>> = {
  finetune: 32,
  generate: 32,
  train: 32,
  evaluate: 32,
  select: 32,
  summarize: 32,
};

/** The task kinds the orchestrator runs. */
export type TaskKind = "finetune" | "generate" | "train" | "evaluate" | "select" | "summarize";

/**
 * Which images a task works on: absent, the dataset's training and test splits; "search", the training
 * images less the `auto` search's validation split, and that validation split in place of the test split.
 */
export type TaskSplit = "search";

/** Input of a finetune task. */
export interface FinetuneInput {
  finetuning: ResolvedMethod["finetuning"];
  seed: number;
  /** Labels of the methods that use this adapter. */
  methods: string[];
  split?: TaskSplit;
}

/** Input of a generate task. */
export interface GenerateInput {
  method: string;
  seed: number;
  shardIndex: number;
  firstSampleIndex: number;
  count: number;
  samplesPerSource: number;
  /** Key of the finetune task whose adapters to use, or null for the base model. */
  finetuneTask: string | null;
  split?: TaskSplit;
}

/** Input of a train task. */
export interface TrainInput {
  method: string;
  seed: number;
  /** Keys of the generate tasks whose images this run trains on (empty for baselines). */
  generateTasks: string[];
  split?: TaskSplit;
  /** The run whose synthetic images it trains on (default: its own method and seed). */
  synthetic?: { method: string; seed: number };
  /** A search candidate's later rung: the select task whose survivors train (the others skip). */
  survivorsOf?: string;
  /** The auto method's final run: the select task whose choice it trains. */
  chosenBy?: string;
  /** The classifier scorer's baseline train task (absent: no classifier filtering). */
  scoringTask?: string;
}

/** Input of an evaluate task. */
export interface EvaluateInput {
  method: string;
  seed: number;
  trainTask: string;
  split?: TaskSplit;
}

/** Input of the summarize task. */
interface SummarizeInput {
  evaluateTasks: string[];
}

/** A short stable name for a fine-tuning spec: identical specs share a task. */
export function finetuneKey(finetuning: ResolvedMethod["finetuning"]): string {
  const digest = createHash("sha256").update(canonicalJson(finetuning)).digest("hex");
  return `finetune:${finetuning.method}:${digest.slice(0, 10)}`;
}

/** JSON with object keys sorted at every level, so equal values serialise equally. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (typeof value === "object" && value !== null && !(value instanceof Date)) {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
        .map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

/** Turns a spec into tasks (in a topological order: each task after its dependencies). */
export function planJob(spec: JobSpec, dataset: { trainCount: number }): NewTask[] {
  const tasks: NewTask[] = [];
  const finetunes = new Map<string, FinetuneInput>();
  for (const method of spec.methods) {
    if (method.generation === null || method.finetuning.method === "none") continue;
    const key = finetuneKey(method.finetuning);
    const existing = finetunes.get(key);
    if (existing) existing.methods.push(method.label);
    else finetunes.set(key, { finetuning: method.finetuning, seed: spec.seeds[0], methods: [method.label] });
  }
  for (const [key, input] of finetunes) {
    tasks.push({ key, kind: "finetune", input, maxAttempts: MAX_ATTEMPTS.finetune });
  }

  let shardIndex = 0;
  const evaluates: string[] = [];
  for (const method of spec.methods) {
    const ft =
      method.generation !== null && method.finetuning.method !== "none"
        ? finetuneKey(method.finetuning)
        : null;
    for (const seed of spec.seeds) {
      const run = `${method.label}:seed=${seed}`;
      const generates: string[] = [];
      if (method.generation !== null) {
        const total = dataset.trainCount * method.generation.syntheticPerReal;
        for (let first = 0; first < total; first += spec.shardSize) {
          const key = `generate:${run}:shard=${shardIndex}`;
          const input: GenerateInput = {
            method: method.label,
            seed,
            shardIndex,
            firstSampleIndex: first,
            count: Math.min(spec.shardSize, total - first),
            samplesPerSource: method.generation.syntheticPerReal,
            finetuneTask: ft,
          };
          tasks.push({
            key,
            kind: "generate",
            dependsOn: ft === null ? [] : [ft],
            input,
            maxAttempts: MAX_ATTEMPTS.generate,
          });
          generates.push(key);
          shardIndex++;
        }
      }
      if (spec.kind === "generate") continue; // the synthetic sets are the job's output
      const train = `train:${run}`;
      const trainInput: TrainInput = { method: method.label, seed, generateTasks: generates };
      const scoring = scoringTaskOf(method, seed);
      if (scoring !== undefined) trainInput.scoringTask = scoring;
      tasks.push({
        key: train,
        kind: "train",
        dependsOn: scoring === undefined ? generates : [...generates, scoring],
        input: trainInput,
        maxAttempts: MAX_ATTEMPTS.train,
      });
      const evaluate = `evaluate:${run}`;
      const evaluateInput: EvaluateInput = { method: method.label, seed, trainTask: train };
      tasks.push({
        key: evaluate,
        kind: "evaluate",
        dependsOn: [train],
        input: evaluateInput,
        maxAttempts: MAX_ATTEMPTS.evaluate,
      });
      evaluates.push(evaluate);
    }
  }
  if (spec.search !== undefined) {
    const search = planSearch({ ...spec, search: spec.search }, dataset.trainCount, shardIndex);
    tasks.push(...search.tasks);
    evaluates.push(...search.evaluates);
  }
  const summarize: SummarizeInput = { evaluateTasks: evaluates };
  // A generation-only job sums up once every shard is stored.
  const last =
    spec.kind === "generate" ? tasks.filter((t) => t.kind === "generate").map((t) => t.key) : evaluates;
  tasks.push({
    key: "summarize",
    kind: "summarize",
    dependsOn: last,
    input: summarize,
    maxAttempts: MAX_ATTEMPTS.summarize,
  });
  return dependenciesFirst(tasks);
}

/** The baseline train task whose classifier scores a run's synthetic images, if the method filters so. */
function scoringTaskOf(method: ResolvedMethod, seed: number): string | undefined {
  return method.filtering?.scorer === "classifier" ? `train:${FILTER_BASELINE}:seed=${seed}` : undefined;
}

/**
 * Moves each task after its dependencies, keeping the order otherwise (a method may name its scoring
 * baseline before the baseline's own tasks); the identity for every job that does not filter.
 */
function dependenciesFirst(tasks: NewTask[]): NewTask[] {
  const byKey = new Map(tasks.map((t) => [t.key, t]));
  const placed = new Set<string>();
  const out: NewTask[] = [];
  const place = (task: NewTask) => {
    if (placed.has(task.key)) return;
    placed.add(task.key);
    for (const dep of task.dependsOn ?? []) {
      const before = byKey.get(dep);
      if (before !== undefined) place(before);
    }
    out.push(task);
  };
  for (const task of tasks) place(task);
  return out;
}
