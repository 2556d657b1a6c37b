/**
 * The summarize task, the DAG's sink: gathers every run's evaluation into the job's result — accuracy per
 * method and seed, mean ± std over seeds, per-class accuracy, the gain over the no-augmentation baseline
 * (paired by seed), generation throughput, and the time each stage took. The store saves it as the job's
 * result in the transaction that completes the job.
 */
import type { JobSpec } from "../../job-spec.js";
import type { Task } from "../../store/index.js";
import type { TaskHandler } from "../task-runner.js";
import type { HandlerDeps, JobLoader } from "./context.js";
import type { EvaluateOutput } from "./evaluate.js";
import type { GenerateOutput } from "./generate.js";
import type { TrainOutput } from "./train.js";

/** Mean, sample standard deviation (n − 1; null below two values) and count. */
export interface MeanStd {
  mean: number | null;
  std: number | null;
  n: number;
}

/** The job result (see schemas/jobs.ts `jobResultSchema`). */
export interface JobResult {
  classes: string[];
  methods: {
    label: string;
    preset: string | null;
    kind: "diffda" | "baseline";
    runs: {
      seed: number;
      top1Accuracy: number;
      perClassAccuracy: (number | null)[];
      meanLoss: number | null;
      sampleCount: number;
      syntheticImages: number;
      trainSeconds: number;
    }[];
    top1Accuracy: MeanStd;
    perClassAccuracy: { mean: (number | null)[]; std: (number | null)[] };
    gainOverBaseline: (MeanStd & { baseline: string }) | null;
    generation: { images: number; seconds: number; imagesPerSecond: number | null } | null;
  }[];
  stages: Record<string, { tasks: number; seconds: number }>;
}

/** The baseline gains are measured against. */
export const REFERENCE_BASELINE = "no-augmentation";

/** Mean and sample standard deviation of the non-null values. */
export function meanStd(values: readonly (number | null)[]): MeanStd {
  const xs = values.filter((v): v is number => v !== null && Number.isFinite(v));
  const n = xs.length;
  if (n === 0) return { mean: null, std: null, n };
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const std = n < 2 ? null : Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1));
  return { mean, std, n };
}

/** Builds the result from the spec and the job's tasks (their outputs). */
export function summarize(spec: JobSpec, classes: readonly string[], tasks: readonly Task[]): JobResult {
  const byKey = new Map(tasks.map((t) => [t.key, t]));
  const accuracy = new Map<string, Map<number, number>>();
  const methods = spec.methods.map((method) => {
    const runs = spec.seeds.flatMap((seed) => {
      const evaluated = byKey.get(`evaluate:${method.label}:seed=${seed}`)?.output as
        | EvaluateOutput
        | undefined;
      const trained = byKey.get(`train:${method.label}:seed=${seed}`)?.output as TrainOutput | undefined;
      if (evaluated === undefined) return [];
      return [
        {
          seed,
          top1Accuracy: evaluated.top1Accuracy,
          perClassAccuracy: evaluated.perClassAccuracy,
          meanLoss: evaluated.meanLoss,
          sampleCount: evaluated.sampleCount,
          syntheticImages: trained?.syntheticImages ?? 0,
          trainSeconds: trained?.durationSeconds ?? 0,
        },
      ];
    });
    accuracy.set(method.label, new Map(runs.map((r) => [r.seed, r.top1Accuracy])));
    const perClass = classes.map((_, c) => meanStd(runs.map((r) => r.perClassAccuracy[c] ?? null)));
    const shards = tasks.filter(
      (t) => t.kind === "generate" && t.key.startsWith(`generate:${method.label}:seed=`),
    );
    const images = shards.reduce((n, t) => n + ((t.output as GenerateOutput | null)?.images ?? 0), 0);
    const seconds = shards.reduce(
      (n, t) => n + ((t.output as GenerateOutput | null)?.durationSeconds ?? 0),
      0,
    );
    return {
      label: method.label,
      preset: method.preset,
      kind: method.kind,
      runs,
      top1Accuracy: meanStd(runs.map((r) => r.top1Accuracy)),
      perClassAccuracy: { mean: perClass.map((m) => m.mean), std: perClass.map((m) => m.std) },
      gainOverBaseline: null as (MeanStd & { baseline: string }) | null,
      generation:
        method.generation === null
          ? null
          : { images, seconds, imagesPerSecond: seconds > 0 ? images / seconds : null },
    };
  });
  const reference = accuracy.get(REFERENCE_BASELINE);
  if (reference !== undefined) {
    for (const method of methods) {
      if (method.label === REFERENCE_BASELINE) continue;
      const gains = method.runs
        .filter((r) => reference.has(r.seed))
        .map((r) => r.top1Accuracy - reference.get(r.seed)!);
      method.gainOverBaseline = { baseline: REFERENCE_BASELINE, ...meanStd(gains) };
    }
  }
  const stages: Record<string, { tasks: number; seconds: number }> = {};
  for (const task of tasks) {
    if (task.kind === "summarize" || task.state !== "succeeded" || !task.startedAt || !task.finishedAt)
      continue;
    const stage = (stages[task.kind] ??= { tasks: 0, seconds: 0 });
    stage.tasks++;
    stage.seconds += (task.finishedAt.getTime() - task.startedAt.getTime()) / 1000;
  }
  return { classes: [...classes], methods, stages };
}

/** Builds the handler. */
export function summarizeHandler(deps: HandlerDeps, loader: JobLoader): TaskHandler {
  return async (task) => {
    const job = await loader.job(task.jobId);
    const result = summarize(job.spec, job.images.classes, await deps.store.tasks.list(task.jobId));
    return { output: { methods: result.methods.length }, jobResult: result };
  };
}
