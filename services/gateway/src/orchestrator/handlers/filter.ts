/**
 * Sample filtering inside a train task, after generation and before utilization: the run's synthetic
 * images are scored (classifier: by the no-augmentation baseline's checkpoint of the same seed, over the
 * classifier service's Evaluate, each image labelled with its intended class; clip: by the generation
 * service's ScoreImages with the model's CLIP), the per-class rule of shared/filtering keeps the best,
 * and only those train the classifier. What was dropped is recorded in the train output, where the job
 * result and the synthetic-set export read it.
 */
import { type ClassSelection, selectSamples } from "../../../../../shared/filtering/select.js";
import { RpcError } from "../../../../../shared/rpc/index.js";
import type { SyntheticMeta } from "../../exports/synthetic-set.js";
import type { FilteringSpec } from "../../filtering-spec.js";
import type { ResolvedMethod } from "../../job-spec.js";
import type { Artifact } from "../../store/index.js";
import type { TrainInput } from "../planner.js";
import { labelledPng } from "../proto.js";
import type { LabelledImageInit } from "../uploads.js";
import type { HandlerDeps, JobLoader, LoadedJob } from "./context.js";
import { evaluateImages } from "./evaluate.js";
import type { TrainOutput } from "./train.js";

/** What a run's filtering did; kept in the train output. */
export interface FilteringOutcome {
  scorer: FilteringSpec["scorer"];
  keepFraction: number | null;
  minScore: number | null;
  sourceWeight: number | null;
  generated: number;
  kept: number;
  dropped: number;
  perClass: (Omit<ClassSelection, "label"> & { class: string })[];
  /** Sample indices (the run's numbering) of the dropped images, ascending. */
  droppedSamples: number[];
  /** Score of each scored image by sample index (null for an index the run does not hold). */
  scores: (number | null)[];
}

/** Reads the images of `rows` labelled with their intended class (an inter-class image: its target). */
async function labelledSet(deps: HandlerDeps, rows: readonly Artifact[]): Promise<LabelledImageInit[]> {
  const out: LabelledImageInit[] = [];
  for (const row of rows) {
    const meta = row.meta as SyntheticMeta;
    out.push(
      labelledPng(new Uint8Array(await deps.artifacts.read(row.sha256)), meta.label, meta.sourceIndex),
    );
  }
  return out;
}

/** The baseline classifier's probability of each image's intended class. */
async function classifierScores(
  deps: HandlerDeps,
  loader: JobLoader,
  jobId: string,
  input: TrainInput,
  rows: readonly Artifact[],
  signal: AbortSignal,
): Promise<number[]> {
  const key = input.scoringTask;
  if (key === undefined) throw new RpcError("failed_precondition", `${input.method} has no scoring baseline`);
  const baseline = (await loader.outputs(jobId, [key])).get(key) as TrainOutput;
  const spec = {
    jobId,
    checkpoint: {
      name: baseline.checkpoint.name,
      mediaType: baseline.checkpoint.mediaType,
      content: await deps.artifacts.read(baseline.checkpoint.sha256),
      sha256: baseline.checkpoint.sha256,
    },
  };
  const response = await evaluateImages(deps, spec, await labelledSet(deps, rows), signal);
  const probabilities = response.metrics?.labelProbabilities ?? [];
  if (probabilities.length !== rows.length)
    throw new RpcError(
      "failed_precondition",
      `the classifier service scored ${probabilities.length} of ${rows.length} images: it predates label probabilities`,
    );
  return [...probabilities];
}

/** Images per ScoreImages call: a run's set may be far larger than one message or one call's limit. */
const SCORE_BATCH = 256;

/** The model's CLIP probability of each image's class prompt, optionally mixed with source similarity. */
async function clipScores(
  deps: HandlerDeps,
  jobId: string,
  job: LoadedJob,
  method: ResolvedMethod,
  filtering: FilteringSpec,
  input: TrainInput,
  rows: readonly Artifact[],
  signal: AbortSignal,
): Promise<number[]> {
  const { train, promptNames } = job.images;
  const model = method.generation?.model ?? deps.models.base;
  const scores: number[] = [];
  for (let first = 0; first < rows.length; first += SCORE_BATCH) {
    const images = await labelledSet(deps, rows.slice(first, first + SCORE_BATCH));
    const used = [...new Set(images.map((image) => image.sourceIndex ?? -1))].filter(
      (i) => i >= 0 && i < train.length,
    );
    const sources = filtering.sourceWeight
      ? used.map((i) => labelledPng(train[i].png, train[i].label, i))
      : [];
    const { client } = deps.clients.generation.pick(input.seed + first / SCORE_BATCH, 0);
    const response = await client.scoreImages(
      {
        jobId,
        model: { name: model },
        // CLIP compares each image with its class's prompt phrase.
        classes: promptNames.map((name) => ({ name })),
        images,
        sources,
        sourceWeight: filtering.sourceWeight ?? 0,
      },
      { signal },
    );
    if (response.scores.length !== images.length)
      throw new RpcError(
        "invalid_argument",
        `ScoreImages returned ${response.scores.length} scores for ${images.length} images`,
      );
    scores.push(...response.scores);
  }
  return scores;
}

/** Scores a run's synthetic images and keeps the best of each class under the method's rule. */
export async function filterSynthetic(
  deps: HandlerDeps,
  loader: JobLoader,
  jobId: string,
  job: LoadedJob,
  method: ResolvedMethod,
  input: TrainInput,
  rows: readonly Artifact[],
  signal: AbortSignal,
): Promise<{ kept: Artifact[]; outcome: FilteringOutcome }> {
  const filtering = method.filtering;
  if (filtering === undefined) throw new RpcError("failed_precondition", `${method.label} does not filter`);
  const scores =
    rows.length === 0
      ? []
      : filtering.scorer === "classifier"
        ? await classifierScores(deps, loader, jobId, input, rows, signal)
        : await clipScores(deps, jobId, job, method, filtering, input, rows, signal);
  const classes = job.images.classes;
  const selection = selectSamples(
    rows.map((row, i) => ({ label: (row.meta as SyntheticMeta).label, score: scores[i] })),
    classes.length,
    { keepFraction: filtering.keepFraction, minScore: filtering.minScore },
  );
  const sampleOf = (i: number) => (rows[i].meta as SyntheticMeta).sampleIndex;
  const byIndex: (number | null)[] = [];
  rows.forEach((_, i) => {
    const score = scores[i];
    byIndex[sampleOf(i)] = Number.isFinite(score) ? score : null;
  });
  const outcome: FilteringOutcome = {
    scorer: filtering.scorer,
    keepFraction: filtering.keepFraction ?? null,
    minScore: filtering.minScore ?? null,
    sourceWeight: filtering.sourceWeight ?? null,
    generated: rows.length,
    kept: selection.kept.length,
    dropped: selection.dropped.length,
    perClass: selection.perClass.map(({ label, ...counts }) => ({ class: classes[label], ...counts })),
    droppedSamples: selection.dropped.map(sampleOf).sort((a, b) => a - b),
    scores: Array.from(byIndex, (s) => s ?? null),
  };
  return { kept: selection.kept.map((i) => rows[i]), outcome };
}

/** A filtered method's filtering as the job result shows it (schemas/filtering.ts `filteringResultSchema`). */
export interface FilteringResult {
  scorer: FilteringSpec["scorer"];
  keepFraction: number | null;
  minScore: number | null;
  sourceWeight: number | null;
  runs: ({ seed: number } & Pick<FilteringOutcome, "generated" | "kept" | "dropped" | "perClass">)[];
}

/** The result's filtering of a method from its runs' train outputs (undefined: it does not filter). */
export function filteringResult(
  method: ResolvedMethod,
  trained: readonly { seed: number; output: TrainOutput | undefined }[],
): FilteringResult | undefined {
  const spec = method.filtering;
  if (spec === undefined) return undefined;
  return {
    scorer: spec.scorer,
    keepFraction: spec.keepFraction ?? null,
    minScore: spec.minScore ?? null,
    sourceWeight: spec.sourceWeight ?? null,
    runs: trained.flatMap(({ seed, output }) => {
      const f = output?.filtering;
      return f === undefined
        ? []
        : [{ seed, generated: f.generated, kept: f.kept, dropped: f.dropped, perClass: f.perClass }];
    }),
  };
}
