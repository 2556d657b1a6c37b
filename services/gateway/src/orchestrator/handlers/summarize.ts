/**
 * The summarize task, the DAG's sink: gathers every run's evaluation into the job's result — accuracy per
 * method and seed, mean ± std over seeds, per-class accuracy, the gain over the no-augmentation baseline
 * (paired by seed, with a paired bootstrap interval over seeds and test images), warnings where the test
 * split is too small to resolve what the result shows, each run's training compute (epochs, batch size,
 * steps, images seen) and final training accuracy, generation throughput, the time each stage took, and
 * the CPU seconds the compute services reported per stage and per method. The store saves it as the
 * job's result in the transaction that completes the job.
 */
import {
  type MeanStd,
  meanStd,
  type PairedInterval,
  pairedBootstrap,
} from "../../../../../shared/stats/index.js";
import type { JobSpec } from "../../job-spec.js";
import { autoMethod, chosenCandidate, type SearchTrace, searchTrace } from "../../search/summary.js";
import type { Task } from "../../store/index.js";
import { finetuneKey } from "../planner.js";
import type { TaskHandler } from "../task-runner.js";
import type { HandlerDeps, JobLoader } from "./context.js";
import type { EvaluateOutput } from "./evaluate.js";
import { type FilteringResult, filteringResult } from "./filter.js";
import type { GenerateOutput } from "./generate.js";
import type { TrainOutput } from "./train.js";

/** The distinct models generate tasks drew with, in first-seen order. */
function modelsOf(shards: readonly Task[]): { id: string; sha256: string }[] {
  const seen = new Map<string, { id: string; sha256: string }>();
  for (const shard of shards) {
    const model = (shard.output as GenerateOutput | null)?.model;
    if (model) seen.set(`${model.id}@${model.sha256}`, { id: model.id, sha256: model.sha256 });
  }
  return [...seen.values()];
}

/**
 * CPU seconds of one method, summed over its seeds, from what the compute services reported. A value is
 * null when one of its tasks reported none (an older service); 0 when the method has no such stage.
 */
interface MethodCpu {
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

/**
 * A 95% paired interval of a gain, resampling seeds and test images: shared/stats pairedBootstrap's answer
 * without what the result already holds (the difference is the gain's mean) or need not (the resamples).
 */
type GainInterval = Omit<PairedInterval, "difference" | "resamples">;

/** Something the caller should know before trusting a figure of the result. */
interface ResultWarning {
  code: "gain_unresolved" | "small_test_split" | "resized" | "auto_no_gain";
  /** The method it is about, when it is about one. */
  method?: string;
  message: string;
}

/** Below this many test images one image moves accuracy by more than a point. */
const SMALL_TEST_SPLIT = 100;

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
      /** The training's compute and fit; null in outputs stored before the gateway kept them. */
      epochs: number | null;
      batchSize: number | null;
      steps: number | null;
      imagesSeen: number | null;
      finalTrainAccuracy: number | null;
      backbone: string | null;
    }[];
    top1Accuracy: MeanStd;
    perClassAccuracy: { mean: (number | null)[]; std: (number | null)[] };
    gainOverBaseline: (MeanStd & { baseline: string; interval: GainInterval | null }) | null;
    generation: {
      images: number;
      seconds: number;
      imagesPerSecond: number | null;
      /** The distinct base models its shards reported (id and folder digest); one unless replicas differ. */
      models?: { id: string; sha256: string }[];
    } | null;
    cpuSeconds: MethodCpu;
    /** What sample filtering dropped per run and class (absent: the method does not filter). */
    filtering?: FilteringResult;
  }[];
  stages: Record<string, { tasks: number; seconds: number; cpuSeconds: number | null }>;
  /** Test images every run was scored on (null without an evaluation). */
  testImages: number | null;
  resolution: Resolution;
  warnings: ResultWarning[];
  /** How the auto method chose (null: the job has none). */
  search: SearchTrace | null;
}

/** Height × width in pixels. */
export interface ImageSize {
  height: number;
  width: number;
}

/** At which sizes the job's images were made and used. */
interface Resolution {
  /** The dataset's images (as stored: uploads are resized to it when registered). */
  dataset: ImageSize;
  /** What the classifier trained and was tested at (the job's imageSize, else the dataset's). */
  classifier: ImageSize;
  /** Sizes the generation model produced, per method that generated (absent: generated nothing yet). */
  generation: Record<string, ImageSize>;
}

/** The CPU seconds a task's output reports (undefined in outputs stored before services measured it). */
function cpuOf(task: Task | undefined): number | null {
  const value = (task?.output as { cpuSeconds?: number | null } | null | undefined)?.cpuSeconds;
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

/** A number a task output holds, or null (absent from older outputs, NaN stored as null). */
function known(value: number | null | undefined): number | null {
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
const REFERENCE_BASELINE = "no-augmentation";

/** Builds the result from the spec and the job's tasks (their outputs). */
export function summarize(
  spec: JobSpec,
  classes: readonly string[],
  tasks: readonly Task[],
  datasetSize: ImageSize = { height: 0, width: 0 },
  validationImages = 0,
): JobResult {
  const byKey = new Map(tasks.map((t) => [t.key, t]));
  const chosen = chosenCandidate(spec, byKey);
  const auto = spec.search === undefined || chosen === null ? null : autoMethod(spec.search, chosen);
  // The auto method's synthetic images are the chosen candidate's, generated during the search.
  const shardOwner = (method: JobSpec["methods"][number]) =>
    method === auto ? (chosen?.syntheticOf ?? "") : method.label;
  const accuracy = new Map<string, Map<number, number>>();
  const correctness = new Map<string, Map<number, number[]>>();
  const finetuneOf = (method: JobSpec["methods"][number]) =>
    method.generation !== null && method.finetuning.method !== "none" ? finetuneKey(method.finetuning) : null;
  const filteredOf = (method: JobSpec["methods"][number]) => {
    const trained = spec.seeds.map((seed) => ({
      seed,
      output: byKey.get(`train:${method.label}:seed=${seed}`)?.output as TrainOutput | undefined,
    }));
    const filtering = filteringResult(method, trained);
    return filtering === undefined ? {} : { filtering };
  };
  const methods = [...spec.methods, ...(auto === null ? [] : [auto])].map((method) => {
    // Each seed's evaluation, read once: the runs and the per-image results both come from it.
    const evaluations = spec.seeds.flatMap((seed) => {
      const evaluated = byKey.get(`evaluate:${method.label}:seed=${seed}`)?.output as
        | EvaluateOutput
        | undefined;
      return evaluated === undefined ? [] : [{ seed, evaluated }];
    });
    const runs = evaluations.map(({ seed, evaluated }) => {
      const trained = byKey.get(`train:${method.label}:seed=${seed}`)?.output as TrainOutput | undefined;
      return {
        seed,
        top1Accuracy: evaluated.top1Accuracy,
        perClassAccuracy: evaluated.perClassAccuracy,
        meanLoss: evaluated.meanLoss,
        sampleCount: evaluated.sampleCount,
        syntheticImages: trained?.syntheticImages ?? 0,
        trainSeconds: trained?.durationSeconds ?? 0,
        epochs: known(trained?.epochs),
        batchSize: known(trained?.batchSize),
        steps: known(trained?.steps),
        imagesSeen: known(trained?.imagesSeen),
        finalTrainAccuracy: known(trained?.finalTrainAccuracy),
        backbone: trained?.backbone ?? null,
      };
    });
    accuracy.set(method.label, new Map(runs.map((r) => [r.seed, r.top1Accuracy])));
    correctness.set(
      method.label,
      new Map(
        evaluations.flatMap(({ seed, evaluated }) =>
          evaluated.correct ? [[seed, evaluated.correct] as const] : [],
        ),
      ),
    );
    const perClass = classes.map((_, c) => meanStd(runs.map((r) => r.perClassAccuracy[c] ?? null)));
    const shards = tasks.filter(
      (t) => t.kind === "generate" && t.key.startsWith(`generate:${shardOwner(method)}:seed=`),
    );
    const images = shards.reduce((n, t) => n + ((t.output as GenerateOutput | null)?.images ?? 0), 0);
    const seconds = shards.reduce(
      (n, t) => n + ((t.output as GenerateOutput | null)?.durationSeconds ?? 0),
      0,
    );
    const ft = finetuneOf(method);
    // A generation-only job plans no classifier runs: those stages cost nothing (0), not "unmeasured" (null).
    const runTasks = (kind: "train" | "evaluate") =>
      spec.kind === "generate"
        ? []
        : spec.seeds.map((seed) => byKey.get(`${kind}:${method.label}:seed=${seed}`));
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
      gainOverBaseline: null as JobResult["methods"][number]["gainOverBaseline"],
      generation:
        method.generation === null
          ? null
          : {
              images,
              seconds,
              imagesPerSecond: seconds > 0 ? images / seconds : null,
              models: modelsOf(shards),
            },
      cpuSeconds,
      ...filteredOf(method),
    };
  });
  const reference = accuracy.get(REFERENCE_BASELINE);
  if (reference !== undefined) {
    for (const method of methods) {
      if (method.label === REFERENCE_BASELINE) continue;
      const gains = method.runs
        .filter((r) => reference.has(r.seed))
        .map((r) => r.top1Accuracy - reference.get(r.seed)!);
      method.gainOverBaseline = {
        baseline: REFERENCE_BASELINE,
        ...meanStd(gains),
        interval: gainInterval(correctness.get(method.label), correctness.get(REFERENCE_BASELINE)),
      };
    }
  }
  const testImages = methods.find((m) => m.runs.length > 0)?.runs[0].sampleCount ?? null;
  const stages: JobResult["stages"] = {};
  for (const task of tasks) {
    if (task.kind === "summarize" || task.state !== "succeeded" || !task.startedAt || !task.finishedAt)
      continue;
    const stage = (stages[task.kind] ??= { tasks: 0, seconds: 0, cpuSeconds: 0 });
    stage.tasks++;
    stage.seconds += (task.finishedAt.getTime() - task.startedAt.getTime()) / 1000;
    stage.cpuSeconds = sumKnown([stage.cpuSeconds, cpuOf(task)]);
  }
  const resolution = resolutionOf(spec, tasks, datasetSize, chosen);
  const search = searchTrace(spec, tasks, validationImages);
  const autoEntry = methods.find((m) => m.label === spec.search?.label);
  if (autoEntry !== undefined && search !== null) {
    // Its cost is the whole search (fine-tuning and generation included) plus its own final runs.
    const cpu = autoEntry.cpuSeconds;
    autoEntry.cpuSeconds = {
      finetune: 0,
      generate: 0,
      train: cpu.train,
      evaluate: cpu.evaluate,
      total: sumKnown([search.cpuSeconds, cpu.train, cpu.evaluate]),
      perSyntheticImage: null,
      perSyntheticImageWithFinetune: null,
      finetuneSharedWith: [],
    };
  }
  return {
    classes: [...classes],
    methods,
    stages,
    testImages,
    resolution,
    warnings: [...warningsOf(methods, testImages), ...resizeWarnings(resolution), ...searchWarnings(search)],
    search,
  };
}

const sizeText = (s: ImageSize) => `${s.height}×${s.width}`;

/** The sizes of a job: the dataset's, the classifier's, and the first generated image's per method. */
function resolutionOf(
  spec: JobSpec,
  tasks: readonly Task[],
  dataset: ImageSize,
  chosen: { label: string; syntheticOf: string | null } | null,
): Resolution {
  // A search candidate's images count as the auto method's when it is the chosen one's; others are not reported.
  const candidates = new Set(spec.search?.candidates.map((c) => c.label));
  const reportedAs = (label: string | undefined) =>
    label !== undefined && candidates.has(label)
      ? label === chosen?.syntheticOf
        ? spec.search?.label
        : undefined
      : label;
  const side = spec.classifier.imageSize;
  const generation: Record<string, ImageSize> = {};
  for (const task of tasks) {
    if (task.kind !== "generate" || task.state !== "succeeded") continue;
    const method = reportedAs((task.input as { method?: string } | null)?.method);
    const size = (task.output as GenerateOutput | null)?.imageSize;
    if (method !== undefined && size && !(method in generation)) generation[method] = size;
  }
  return { dataset, classifier: side === undefined ? dataset : { height: side, width: side }, generation };
}

/** A warning per method whose images were generated at another size than the classifier uses. */
function resizeWarnings(r: Resolution): ResultWarning[] {
  return Object.entries(r.generation)
    .filter(([, size]) => sizeText(size) !== sizeText(r.classifier))
    .map(([method, size]) => ({
      code: "resized" as const,
      method,
      message: `${method}: synthetic images were generated at ${sizeText(size)} px (the model's size) and resized to ${sizeText(r.classifier)} px for the classifier; the dataset's images are ${sizeText(r.dataset)} px`,
    }));
}

/**
 * The paired interval of A − B over the seeds both have per-image results for; null when they share
 * none (outputs of services that predate predictions) or their test sets differ in size.
 */
function gainInterval(
  a: ReadonlyMap<number, number[]> | undefined,
  b: ReadonlyMap<number, number[]> | undefined,
): GainInterval | null {
  if (a === undefined || b === undefined) return null;
  const seeds = [...a.keys()].filter((seed) => b.has(seed));
  if (seeds.length === 0) return null;
  const rowsA = seeds.map((seed) => a.get(seed)!);
  const rowsB = seeds.map((seed) => b.get(seed)!);
  const images = rowsA[0].length;
  if (images === 0 || [...rowsA, ...rowsB].some((row) => row.length !== images)) return null;
  // The gain's mean is the difference already; the resample count stays an implementation detail.
  const { difference, resamples, ...interval } = pairedBootstrap(rowsA, rowsB);
  return interval;
}

const pts = (x: number) => `${x >= 0 ? "+" : ""}${(x * 100).toFixed(1)}`;

/** The auto method fell back to no augmentation: say so, with how close the best candidate came. */
function searchWarnings(search: SearchTrace | null): ResultWarning[] {
  if (search?.recommendation !== "no_augmentation") return [];
  const reference = search.candidates[0];
  const best = search.candidates
    .slice(1)
    .filter((c) => c.validation.mean !== null)
    .sort((a, b) => b.validation.mean! - a.validation.mean!)[0];
  const margin =
    best === undefined || reference.validation.mean === null
      ? ""
      : ` (the best, ${best.setting.preset}, scored ${pts(best.validation.mean! - reference.validation.mean)} points against it on ${search.validationImages} validation images)`;
  return [
    {
      code: "auto_no_gain",
      method: search.label,
      message: `${search.label}: no candidate beat no-augmentation on the validation split${margin}; it ran without augmentation, and no augmentation is the recommendation for this dataset`,
    },
  ];
}

/** What the caller should know: a test split too small for the figures, gains it does not resolve. */
function warningsOf(methods: JobResult["methods"], testImages: number | null): ResultWarning[] {
  const warnings: ResultWarning[] = [];
  if (testImages !== null && testImages < SMALL_TEST_SPLIT)
    warnings.push({
      code: "small_test_split",
      message: `the test split has ${testImages} images: one image is worth ${(100 / testImages).toFixed(1)} points of accuracy, so differences of a few points are within noise`,
    });
  for (const method of methods) {
    const gain = method.gainOverBaseline;
    if (gain?.interval == null || gain.mean === null || gain.interval.resolved) continue;
    const { low, high, level, seeds, images } = gain.interval;
    warnings.push({
      code: "gain_unresolved",
      method: method.label,
      message: `${method.label}: the gain of ${pts(gain.mean)} points over ${gain.baseline} is not resolved: its ${Math.round(level * 100)}% interval, ${pts(low)} to ${pts(high)} points over ${seeds} seed(s) and ${images} test images, includes 0`,
    });
  }
  return warnings;
}

/** Builds the handler. */
export function summarizeHandler(deps: HandlerDeps, loader: JobLoader): TaskHandler {
  return async (task) => {
    const job = await loader.job(task.jobId);
    const { classes, height, width } = job.images;
    const validation =
      job.spec.search === undefined ? 0 : (await loader.view(task.jobId, "search")).images.test.length;
    const result = summarize(
      job.spec,
      classes,
      await deps.store.tasks.list(task.jobId),
      { height, width },
      validation,
    );
    return { output: { methods: result.methods.length }, jobResult: result };
  };
}
