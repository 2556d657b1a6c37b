/**
 * What every task handler needs: the job's resolved spec and dataset images (cached per job: a succeeded
 * spec never changes), outputs of succeeded dependencies, throttled progress events, and the services.
 */

import { validationSplit } from "../../../../../shared/data/index.js";
import type { Progress } from "../../../../../shared/gen/diffda/common/v1/progress_pb.js";
import type { BlobStore } from "../../blob-store.js";
import type { DatasetImages, DatasetService } from "../../datasets/dataset-service.js";
import type { JobSpec, ResolvedMethod } from "../../job-spec.js";
import type { GatewayMetrics } from "../../plugins/metrics.js";
import type { Dataset, JobStore } from "../../store/index.js";
import type { ComputeClients } from "../compute-clients.js";
import type { TaskSplit } from "../planner.js";

/** Model ids and defaults from configuration. */
interface ModelDefaults {
  /** Text-to-image model (ModelRef.name). */
  base: string;
  /** Instruction-edit model for instruct_edit. */
  instruct: string;
  /** Classifier network when a job names none. */
  architecture: string;
}

/** Dependencies of the handlers. */
export interface HandlerDeps {
  store: JobStore;
  artifacts: BlobStore;
  datasets: DatasetService;
  clients: Omit<ComputeClients, "close">;
  models: ModelDefaults;
  metrics?: GatewayMetrics;
  /** Least time between two progress events of one task (default 2 s). */
  progressIntervalMs?: number;
  /**
   * Sets whose estimated wire size exceeds this go over the Upload RPCs in chunks of at most this many
   * bytes; smaller ones travel inline (default 4 MiB, uploads.ts).
   */
  uploadChunkBytes?: number;
}

/** A job as handlers see it. */
export interface LoadedJob {
  spec: JobSpec;
  dataset: Dataset;
  images: DatasetImages;
  /** Under a split: the index in the dataset's training images of each training image here. */
  trainIndices?: number[];
}

/** Loads jobs and dependency outputs, with small caches. */
export class JobLoader {
  readonly #deps: HandlerDeps;
  readonly #jobs = new Map<string, Promise<LoadedJob>>();

  constructor(deps: HandlerDeps) {
    this.#deps = deps;
  }

  /** The job's spec, dataset row and images. */
  job(jobId: string): Promise<LoadedJob> {
    let loaded = this.#jobs.get(jobId);
    if (loaded === undefined) {
      loaded = this.#load(jobId);
      loaded.catch(() => this.#jobs.delete(jobId));
      this.#jobs.set(jobId, loaded);
      if (this.#jobs.size > 32) this.#jobs.delete(this.#jobs.keys().next().value as string);
    }
    return loaded;
  }

  async #load(jobId: string): Promise<LoadedJob> {
    const job = await this.#deps.store.jobs.get(jobId);
    if (job === undefined || job.datasetId === null) throw new Error(`job ${jobId} or its dataset is gone`);
    const dataset = await this.#deps.store.datasets.get(job.datasetId);
    if (dataset === undefined) throw new Error(`dataset ${job.datasetId} of job ${jobId} is gone`);
    return { spec: job.spec as JobSpec, dataset, images: await this.#deps.datasets.images(dataset) };
  }

  /**
   * The job as a task of `split` sees it: under "search", the training images less the search's
   * validation split, and the validation split as its test images.
   */
  async view(jobId: string, split?: TaskSplit): Promise<LoadedJob> {
    const job = await this.job(jobId);
    if (split === undefined) return job;
    const search = job.spec.search;
    if (search === undefined) throw new Error(`job ${jobId} has no search, so no ${split} split`);
    const { train, classes } = job.images;
    const held = validationSplit(
      train.map((image) => image.label),
      classes.length,
      search.seed,
      search.validationFraction,
    );
    return {
      ...job,
      images: {
        ...job.images,
        train: held.train.map((i) => train[i]),
        test: held.validation.map((i) => train[i]),
      },
      trainIndices: held.train,
    };
  }

  /** A method of a job by label (a search candidate too), with the job as `split` sees it. */
  async method(
    jobId: string,
    label: string,
    split?: TaskSplit,
  ): Promise<{ job: LoadedJob; method: ResolvedMethod }> {
    const job = await this.view(jobId, split);
    const method =
      job.spec.methods.find((m) => m.label === label) ??
      job.spec.search?.candidates.find((m) => m.label === label);
    if (method === undefined) throw new Error(`job ${jobId} has no method ${label}`);
    return { job, method };
  }

  /** Outputs of succeeded tasks of a job, by key. */
  async outputs(jobId: string, keys: readonly string[]): Promise<Map<string, unknown>> {
    const wanted = new Set(keys);
    const out = new Map<string, unknown>();
    for (const task of await this.#deps.store.tasks.list(jobId)) {
      if (wanted.has(task.key)) {
        if (task.state !== "succeeded") throw new Error(`dependency ${task.key} is ${task.state}`);
        out.set(task.key, task.output);
      }
    }
    for (const key of keys) if (!out.has(key)) throw new Error(`job ${jobId} has no task ${key}`);
    return out;
  }

  /** A progress reporter for one task: at most one `task.progress` event per interval. */
  progress(jobId: string, taskKey: string): (progress: Progress) => Promise<void> {
    const interval = this.#deps.progressIntervalMs ?? 2000;
    let last = 0;
    return async (progress) => {
      const now = Date.now();
      if (now - last < interval && !(progress.totalSteps > 0 && progress.step >= progress.totalSteps)) return;
      last = now;
      await this.#deps.store.events.append(jobId, "task.progress", {
        key: taskKey,
        stage: progress.stage,
        step: progress.step,
        totalSteps: progress.totalSteps,
        ...(progress.loss !== undefined ? { loss: progress.loss } : {}),
        ...(progress.etaSeconds !== undefined ? { etaSeconds: progress.etaSeconds } : {}),
        ...(progress.message ? { message: progress.message } : {}),
      });
    };
  }
}
