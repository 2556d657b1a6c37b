/**
 * `diffda submit`: a job from a job file and/or presets, on a dataset (a built-in few-shot task, an
 * ImageFolder zip, tar, tar.gz or directory, or an existing dataset id), with the command line's overrides.
 */

import { UsageError } from "../args.js";
import { listMethods, submitJob } from "../client/api.js";
import { type DatasetArgs, registerDataset, resolveDatasetSource } from "../client/dataset-source.js";
import { readJobFile } from "../client/job-file.js";
import { applyOverrides, type PresetComponents, type QuickOverrides } from "../client/overrides.js";
import type { RestClient } from "../client/rest-client.js";
import type { BuiltinDatasetRequest, Dataset, Job, JobRequest, MethodRequest } from "../client/types.js";

/** What `submit` (and `demo`) take. */
export interface SubmitArgs {
  /** A job file. */
  readonly spec?: string;
  /** Presets to run (replace the file's methods). */
  readonly presets?: readonly string[];
  /** The dataset (overrides the file's). */
  readonly dataset?: DatasetArgs;
  readonly seeds?: readonly number[];
  readonly baselines?: readonly string[];
  /** Classifier epochs and batch size (override the file's; unset, the service sizes them to the set). */
  readonly epochs?: number;
  readonly batchSize?: number;
  /** What every run shares (override the file's; unset, the gateway's default: the baseline's steps). */
  readonly budget?: "steps" | "epochs";
  /** A generation-only job: the synthetic sets, no baselines, no classifier. */
  readonly generateOnly?: boolean;
  readonly name?: string;
  readonly shardSize?: number;
  readonly overrides?: QuickOverrides;
  /** A URL the job's events are POSTed to, signed with the key's webhook secret. */
  readonly webhook?: string;
}

/** A submitted job and its dataset. */
export interface Submitted {
  readonly job: Job;
  readonly dataset: Dataset;
}

/** Where a submission's dataset comes from. */
export type DatasetChoice =
  | { readonly kind: "args"; readonly args: DatasetArgs }
  | { readonly kind: "builtin"; readonly request: BuiltinDatasetRequest }
  | { readonly kind: "id"; readonly id: string };

/** The job request `args` describe (less the dataset id) and where its dataset comes from. */
export async function buildSubmission(
  args: SubmitArgs,
): Promise<{ request: Omit<JobRequest, "datasetId">; dataset: DatasetChoice }> {
  const file = args.spec === undefined ? undefined : await readJobFile(args.spec);
  const methods: MethodRequest[] =
    args.presets !== undefined
      ? args.presets.map((preset) => ({ preset }))
      : [...(file?.request.methods ?? [])];
  if (methods.length === 0) throw new UsageError("name the methods: --preset a,b or --spec job.json");
  const { datasetId, ...fromFile } = file?.request ?? { methods };
  const classifier = {
    ...(args.epochs !== undefined ? { epochs: args.epochs } : {}),
    ...(args.batchSize !== undefined ? { batchSize: args.batchSize } : {}),
    ...(args.budget !== undefined ? { budget: args.budget } : {}),
  };
  const request: Omit<JobRequest, "datasetId"> = {
    ...fromFile,
    methods,
    ...(args.seeds !== undefined ? { seeds: [...args.seeds] } : {}),
    ...(args.baselines !== undefined ? { baselines: [...args.baselines] } : {}),
    ...(args.name !== undefined ? { name: args.name } : {}),
    ...(args.shardSize !== undefined ? { shardSize: args.shardSize } : {}),
    ...(args.webhook !== undefined ? { webhook: { url: args.webhook } } : {}),
    // A generation-only job has no baselines: the file's (if any) would make it a 422.
    ...(args.generateOnly ? { kind: "generate" as const, baselines: [] } : {}),
    ...(Object.keys(classifier).length > 0
      ? { classifier: { ...(fromFile.classifier ?? {}), ...classifier } }
      : {}),
  };
  if (args.dataset !== undefined) return { request, dataset: { kind: "args", args: args.dataset } };
  if (file?.dataset !== undefined) return { request, dataset: { kind: "builtin", request: file.dataset } };
  if (datasetId !== undefined) return { request, dataset: { kind: "id", id: datasetId } };
  throw new UsageError(
    "name a dataset: --dataset fashion-mnist --shots 5, a .zip, .tar or .tar.gz, a directory, or a dataset id",
  );
}

/** Registers the dataset and submits the job. */
export async function submitRun(
  client: RestClient,
  args: SubmitArgs,
  onStep: (line: string) => void = () => {},
): Promise<Submitted> {
  const built = await buildSubmission(args);
  const source =
    built.dataset.kind === "args" ? await resolveDatasetSource(built.dataset.args) : built.dataset;
  const dataset = await registerDataset(client, source);
  onStep(
    `dataset ${dataset.id}: ${dataset.name} — ${dataset.classes.length} classes, ${dataset.trainCount} train / ${dataset.testCount} test images`,
  );
  let methods = built.request.methods;
  const overrides = args.overrides ?? {};
  if (Object.values(overrides).some((v) => v !== undefined)) {
    const presets = (await listMethods(client)) as unknown as PresetComponents[];
    methods = methods.map((method) => applyOverrides(method, overrides, presets));
  }
  const job = await submitJob(client, { ...built.request, methods, datasetId: dataset.id });
  onStep(
    `job ${job.id} submitted: ${[
      ...job.spec.methods.map((m) => m.label),
      ...(job.spec.search
        ? [`${job.spec.search.label} (searching ${job.spec.search.candidates.length - 1} candidates)`]
        : []),
    ].join(", ")} × seeds ${job.spec.seeds.join(",")} — ${job.tasks.total} tasks`,
  );
  return { job, dataset };
}
