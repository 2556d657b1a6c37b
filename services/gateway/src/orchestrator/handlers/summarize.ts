/**
 * The summarize task, the DAG's sink: gathers every run's evaluation into the job's result — accuracy per
 * method and seed, mean ± std over seeds, per-class accuracy, the gain over the no-augmentation baseline
 * (paired by seed), generation throughput, the time each stage took, and the CPU seconds the compute
 * services reported per stage and per method. The store saves it as the job's result in the transaction
 * that completes the job.
 */
import type { JobSpec } from "../../job-spec.js";
import type { Task } from "../../store/index.js";
import { finetuneKey } from "../planner.js";
import type { TaskHandler } from "../task-runner.js";
import type { HandlerDeps, JobLoader } from "./context.js";
import type { EvaluateOutput } from "./evaluate.js";
import type { GenerateOutput } from "./generate.js";
import type { TrainOutput } from "./train.js";

/**
 * CPU seconds of one method, summed over its seeds, from what the compute services reported. A value is
 * null when one of its tasks reported none (an older service); 0 when the method has no such stage.
 */
export interface MethodCpu {
  /** The fine-tuning task it used, counted in full even when others share it (`finetuneSharedWith`). */
  finetune: number | null;
  /** Its generation shards. */
  generate: number | null;
  train: number | null;
  evaluate: number | null;
  /** finetune + generate + train + evaluate. */
  total: number | null;
  /** generate ÷ synthetic images (null without images). */
  perSyntheticImage: number | null;
  /** (finetune + generate) ÷ synthetic images: the full cost of one synthetic image (null without images). */
  perSyntheticImageWithFinetune: number | null;
  /** Other methods of the job that used the same fine-tuning task. */
  finetuneSharedWith: string[];
}

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
    cpuSeconds: MethodCpu;
  }[];
  stages: Record<string, { tasks: number; seconds: number; cpuSeconds: number | null }>;
}

/** The CPU seconds a task's output reports (undefined in outputs stored before services measured it). */
function cpuOf(task: Task | undefined): number | null {
  const value = (task?.output as { cpuSeconds?: number | null } | null | undefined)?.cpuSeconds;
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

/** Sum of the values, null as soon as one is null (an unmeasured part makes the sum unknown). */
function sumKnown(values: readonly (number | null)[]): number | null {
  let sum = 0;
  for (const v of values) {
    if (v === null) return null;
    sum += v;
  }
  return sum;
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
  const finetuneOf = (method: JobSpec["methods"][number]) =>
    method.generation !== null && method.finetuning.method !== "none" ? finetuneKey(method.finetuning) : null;
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
    const ft = finetuneOf(method);
    const runTasks = (kind: "train" | "evaluate") =>
      spec.seeds.map((seed) => byKey.get(`${kind}:${method.label}:seed=${seed}`));
    const cpu = {
      finetune: ft === null ? 0 : cpuOf(byKey.get(ft)),
      generate: sumKnown(shards.map(cpuOf)),
      train: sumKnown(runTasks("train").map(cpuOf)),
      evaluate: sumKnown(runTasks("evaluate").map(cpuOf)),
    };
    const synthesis = sumKnown([cpu.finetune, cpu.generate]);
    const cpuSeconds: MethodCpu = {
      ...cpu,
      total: sumKnown([cpu.finetune, cpu.generate, cpu.train, cpu.evaluate]),
      perSyntheticImage: cpu.generate !== null && images > 0 ? cpu.generate / images : null,
      perSyntheticImageWithFinetune: synthesis !== null && images > 0 ? synthesis / images : null,
      finetuneSharedWith:
        ft === null
          ? []
          : spec.methods.filter((m) => m.label !== method.label && finetuneOf(m) === ft).map((m) => m.label),
    };
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
      cpuSeconds,
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
  const stages: JobResult["stages"] = {};
  for (const task of tasks) {
    if (task.kind === "summarize" || task.state !== "succeeded" || !task.startedAt || !task.finishedAt)
      continue;
    const stage = (stages[task.kind] ??= { tasks: 0, seconds: 0, cpuSeconds: 0 });
    stage.tasks++;
    stage.seconds += (task.finishedAt.getTime() - task.startedAt.getTime()) / 1000;
    stage.cpuSeconds = sumKnown([stage.cpuSeconds, cpuOf(task)]);
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
