/**
 * The gateway's REST resources as the CLI reads them (docs/api.md; the OpenAPI document at
 * `GET /openapi.json` is the contract). Only the fields the CLI uses are typed; the rest pass through.
 */

import type { components } from "./generated/openapi.js";

/** Final job states: the event stream ends and the job no longer changes. */
export const FINAL_STATES = ["succeeded", "failed", "cancelled"] as const;

/** Every job state. */
export type JobState = "queued" | "running" | (typeof FINAL_STATES)[number];

/** Whether `state` is final. */
export function isFinalState(state: string): boolean {
  return (FINAL_STATES as readonly string[]).includes(state);
}

/** Mean, sample standard deviation (null below two values) and count. */
export interface MeanStd {
  mean: number | null;
  std: number | null;
  n: number;
}

/** A paired bootstrap interval of a gain over seeds and test images. */
export interface GainInterval {
  low: number;
  high: number;
  level: number;
  seeds: number;
  images: number;
  resolved: boolean;
}

/** A caveat of the result: a small test split, a gain its interval does not resolve. */
export interface ResultWarning {
  code: string;
  method?: string;
  message: string;
}

/** One (method, seed) evaluation. */
export interface RunResult {
  seed: number;
  top1Accuracy: number;
  perClassAccuracy: (number | null)[];
  meanLoss: number | null;
  sampleCount: number;
  syntheticImages: number;
  trainSeconds: number;
  /**
   * The classifier's compute and fit (absent in results of gateways that predate them; null where the
   * run's output lacked them): epochs, samples per step, optimizer steps, samples trained on, and top-1 of
   * the final weights on the real training images.
   */
  epochs?: number | null;
  batchSize?: number | null;
  steps?: number | null;
  imagesSeen?: number | null;
  finalTrainAccuracy?: number | null;
}

/** One method's results over the seeds. */
export interface MethodResult {
  label: string;
  preset: string | null;
  kind: "diffda" | "baseline";
  runs: RunResult[];
  top1Accuracy: MeanStd;
  perClassAccuracy: { mean: (number | null)[]; std: (number | null)[] };
  /** `interval` is absent in results of gateways that predate per-image predictions. */
  gainOverBaseline: (MeanStd & { baseline: string; interval?: GainInterval | null }) | null;
  generation: { images: number; seconds: number; imagesPerSecond: number | null } | null;
  /** CPU seconds the services reported (absent in results of gateways that predate it). */
  cpuSeconds?: MethodCpu;
}

// jscpd:ignore-start (the CLI keeps its own copy of the wire types; cli/client/conformance.ts checks it)
/**
 * A method's CPU seconds over its seeds (null: a task reported none; 0: no such stage). The fine-tuning
 * task is counted in full for every method that shares it.
 */
export interface MethodCpu {
  finetune: number | null;
  generate: number | null;
  train: number | null;
  evaluate: number | null;
  total: number | null;
  perSyntheticImage: number | null;
  perSyntheticImageWithFinetune: number | null;
  finetuneSharedWith: string[];
}
// jscpd:ignore-end

/** A succeeded job's result. */
export interface JobResult {
  classes: string[];
  methods: MethodResult[];
  /** Per task kind: tasks, summed seconds between their start and finish, and summed CPU seconds. */
  stages: Record<string, { tasks: number; seconds: number; cpuSeconds?: number | null }>;
  /** Absent in results of gateways that predate them. */
  warnings?: ResultWarning[];
  /** Sizes in pixels of the dataset, the classifier and each method's generated images (absent: older gateways). */
  resolution?: {
    dataset: { height: number; width: number };
    classifier: { height: number; width: number };
    generation: Record<string, { height: number; width: number }>;
  };
  /** How the auto method chose (null or absent: the job had none). */
  search?: SearchTrace | null;
}

/** The auto method's search: candidates scored on the validation split, the rungs, the choice (the gateway's schema). */
export type SearchTrace = NonNullable<components["schemas"]["JobResult"]["search"]>;

/** A setting the auto method's search tried (null: the preset's own, or not applicable). */
export type CandidateSetting = SearchTrace["candidates"][number]["setting"];

/** A resolved method of a stored spec. */
export interface ResolvedMethod {
  label: string;
  preset: string | null;
  kind: "diffda" | "baseline";
  finetuning: { method: string } & Record<string, unknown>;
  generation: ({ mode: string; syntheticPerReal: number } & Record<string, unknown>) | null;
  utilization: { mode: string } & Record<string, unknown>;
}

/** A job's resolved spec. */
export interface JobSpec {
  version: number;
  /** "generate": only the synthetic sets (absent in older specs: "evaluate"). */
  kind?: "evaluate" | "generate";
  name: string | null;
  datasetId: string;
  seeds: number[];
  methods: ResolvedMethod[];
  classifier: Record<string, unknown>;
  shardSize: number;
  /** The auto method's search (absent: the job has none). */
  search?: { label: string; candidates: { label: string; setting: CandidateSetting }[] };
}

/** Task counts of a job. */
export interface TaskCounts {
  pending: number;
  running: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  total: number;
}

/** `GET /v1/jobs/{id}`. */
export interface Job {
  id: string;
  name: string | null;
  state: JobState;
  /** null once the dataset was deleted (finished jobs keep their results). */
  datasetId: string | null;
  spec: JobSpec;
  tasks: TaskCounts;
  result: JobResult | null;
  error: unknown;
  createdAt: string;
  updatedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

/** An item of `GET /v1/jobs`. */
export interface JobSummary {
  id: string;
  name: string | null;
  state: JobState;
  datasetId: string | null;
  createdAt: string;
  finishedAt: string | null;
}

/** A cursor page. */
export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/** `GET /v1/datasets/{id}`. */
export interface Dataset {
  id: string;
  name: string;
  kind: string;
  classes: string[];
  imageCount: number;
  trainCount: number;
  testCount: number;
  image: { channels: number; height: number; width: number };
  builtin: { name: string; shots: number; seed: number; testPerClass: number | null } | null;
  /** How the test split was made: the built-in dataset's own, held out per class, or the user's. */
  split: "builtin" | "holdout" | "user";
  createdAt: string;
}

/** A built-in few-shot task (`POST /v1/datasets` JSON body). */
export interface BuiltinDatasetRequest {
  builtin: string;
  shots: number;
  seed?: number;
  classes?: (string | number)[];
  testPerClass?: number;
  name?: string;
}

/** Options of an ImageFolder upload (`POST /v1/datasets` query string). */
export interface UploadOptions {
  name?: string;
  channels?: 1 | 3;
  size?: number;
  testFraction?: number;
  splitSeed?: number;
}

/** A method of a job request: a preset with overrides, or a composition. */
export interface MethodRequest {
  preset?: string;
  label?: string;
  finetuning?: Record<string, unknown>;
  generation?: Record<string, unknown>;
  utilization?: Record<string, unknown>;
}

/** `POST /v1/jobs` body. */
export interface JobRequest {
  datasetId: string;
  /** "generate": only the synthetic sets, no baselines, no classifier (default "evaluate"). */
  kind?: "evaluate" | "generate";
  name?: string;
  methods: MethodRequest[];
  seeds?: number[];
  baselines?: string[];
  classifier?: Record<string, unknown>;
  shardSize?: number;
  /** Where the job's events are POSTed (Standard Webhooks, signed with the key's secret). */
  webhook?: { url: string; events?: string[] };
}

/** An item of `GET /v1/jobs/{id}/artifacts`. */
export interface Artifact {
  key: string;
  kind: string;
  sha256: string;
  bytes: number;
  mediaType: string;
  meta: Record<string, unknown>;
  createdAt: string;
  href: string;
}

/** `GET /v1/jobs/{id}/artifacts`. */
export interface ArtifactPage {
  items: Artifact[];
  nextAfter: string | null;
}

/** A preset of `GET /v1/methods`. */
export interface MethodPreset {
  id: string;
  name: string;
  kind: "diffda" | "baseline";
  reference: string;
  description: string;
}

/** One event of a job's stream (`data:` of the SSE frame). */
export interface JobEvent {
  id: number;
  type: string;
  createdAt: string;
  data: Record<string, unknown>;
}

/** An RFC 9457 problem as the gateway answers it. */
export interface Problem {
  type?: string;
  title?: string;
  status: number;
  detail?: string;
  code?: string;
  errors?: { field: string; message: string }[];
}

/** An adapter resource (`/v1/adapters`). */
export interface AdapterResource {
  id: string;
  name: string;
  kind: "lora" | "textual_inversion";
  /** The model id it was checked against. */
  model: string;
  sha256: string;
  bytes: number;
  tokens: string[];
  rank: number;
  alpha: number;
  sourceJobId: string | null;
  createdAt: string;
}

/** An item of `GET /v1/models`. */
export interface ServedModel {
  id: string;
  sha256: string;
  bytes: number;
  nativeSize: { height: number; width: number };
  pipeline: string;
  summary: string;
  card: string;
}
