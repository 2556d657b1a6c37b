/**
 * The runner: one cell at a time through the gateway's REST API — the path every user's job takes —
 * register the built-in few-shot task, submit one job with the cell's methods, follow it to its end,
 * and store each method's outcome in the cell file. A cell whose earlier job is still known to the
 * gateway (the pending marker) follows that job instead of submitting a new one: with the embedded
 * stack's persistent data directory, a run interrupted mid-job resumes it from the gateway's task table;
 * a job that is gone, failed or was cancelled is submitted again.
 */
import { cancelJob, createBuiltinDataset, getDataset, getJob, submitJob } from "../../cli/client/api.js";
import { ApiError, type RestClient } from "../../cli/client/rest-client.js";
import { isFinalState, type Job, type MethodResult } from "../../cli/client/types.js";
import { errorText } from "../../cli/commands/follow.js";
import { formatDuration } from "../../cli/progress/bar.js";
import { AUTO_PRESET } from "../../services/gateway/src/search/search-spec.js";
import type { Cell, CellMethod } from "./cells.js";
import {
  CELL_FORMAT,
  type CellRecord,
  clearPending,
  mergeCell,
  readCell,
  readPending,
  type StoredMethod,
  writeCell,
  writePending,
} from "./store.js";

/** What the runner needs. */
export interface RunnerContext {
  readonly client: RestClient;
  /** The gateway's identity for pending markers: its URL, or `embedded:<data dir>`. */
  readonly gateway: string;
  /** Where cell files go. */
  readonly resultsDir: string;
  /** Where pending markers go. */
  readonly stateDir: string;
  /** Digest of the model kit the gateway uses, when known. */
  readonly modelDigest: string | null;
  readonly signal: AbortSignal;
  /** A progress line. */
  readonly log: (line: string) => void;
  /** How often the job is polled (default 5 s). */
  readonly pollMs?: number;
  /** Least time between two progress lines of one job (default 30 s). */
  readonly progressEveryMs?: number;
}

/** How running a cell ended. */
export type CellOutcome =
  | { readonly state: "succeeded"; readonly record: CellRecord; readonly path: string; readonly job: Job }
  | { readonly state: "failed"; readonly jobId: string | null; readonly error: string };

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", abort);
      resolve();
    }, ms);
    function abort() {
      clearTimeout(timer);
      reject(signal.reason);
    }
    signal.addEventListener("abort", abort, { once: true });
  });

/** A pending job to follow, or undefined when the cell must be submitted (again). */
async function resumable(
  cell: Cell,
  fingerprints: readonly string[],
  ctx: RunnerContext,
): Promise<Job | undefined> {
  const pending = await readPending(ctx.stateDir, cell.id);
  if (pending === undefined) return undefined;
  const same =
    pending.gateway === ctx.gateway &&
    pending.fingerprints.length === fingerprints.length &&
    pending.fingerprints.every((f) => fingerprints.includes(f));
  if (!same) {
    if (pending.gateway === ctx.gateway) {
      // A restarted gateway resumes every unfinished job: one this cell no longer wants must not take the CPU.
      await cancelJob(ctx.client, pending.jobId).catch((error: unknown) => {
        if (!(error instanceof ApiError) || (error.status !== 404 && error.status !== 409)) throw error;
      });
    }
    ctx.log(
      `${cell.id}: the earlier job ${pending.jobId} ran another set of methods or elsewhere; submitting anew`,
    );
    return undefined;
  }
  try {
    const job = await getJob(ctx.client, pending.jobId);
    if (job.state === "failed" || job.state === "cancelled") {
      ctx.log(`${cell.id}: the earlier job ${job.id} ${job.state}; submitting anew`);
      return undefined;
    }
    ctx.log(`${cell.id}: following the earlier job ${job.id} (${job.state})`);
    return job;
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      ctx.log(`${cell.id}: the earlier job ${pending.jobId} is gone; submitting anew`);
      return undefined;
    }
    throw error;
  }
}

async function submit(cell: Cell, todo: readonly CellMethod[], ctx: RunnerContext): Promise<Job> {
  const dataset = await createBuiltinDataset(ctx.client, cell.dataset);
  const job = await submitJob(ctx.client, {
    datasetId: dataset.id,
    name: `bench-grid ${cell.id}`,
    methods: todo.map((m) => m.request),
    seeds: [cell.seed],
    // The baselines are methods of the cell like the others: the cell decides which of them still run.
    baselines: [],
    classifier: { ...cell.classifier },
  });
  await writePending(ctx.stateDir, {
    cell: cell.id,
    jobId: job.id,
    gateway: ctx.gateway,
    fingerprints: todo.map((m) => m.fingerprint),
    submittedAt: new Date().toISOString(),
  });
  ctx.log(
    `${cell.id}: job ${job.id} submitted — ${todo.length} methods on ${dataset.trainCount} train / ${dataset.testCount} test images, ${job.tasks.total} tasks`,
  );
  return job;
}

/** Polls the job until it is final, printing a progress line now and then. */
async function follow(cell: Cell, first: Job, ctx: RunnerContext): Promise<Job> {
  const pollMs = ctx.pollMs ?? 5000;
  const every = ctx.progressEveryMs ?? 30_000;
  const started = Date.now();
  let lastLine = Date.now();
  let job = first;
  while (!isFinalState(job.state)) {
    await sleep(pollMs, ctx.signal);
    job = await getJob(ctx.client, job.id);
    if (Date.now() - lastLine >= every && !isFinalState(job.state)) {
      lastLine = Date.now();
      const t = job.tasks;
      ctx.log(
        `${cell.id}: ${t.succeeded}/${t.total} tasks done, ${t.running} running (${formatDuration((Date.now() - started) / 1000)})`,
      );
    }
  }
  return job;
}

function storedMethod(
  cell: Cell,
  method: CellMethod,
  result: MethodResult,
  job: Job,
  ctx: RunnerContext,
): StoredMethod {
  const run = result.runs.find((r) => r.seed === cell.seed);
  if (run === undefined) throw new Error(`job ${job.id} has no run of ${method.label} for seed ${cell.seed}`);
  if (!Number.isFinite(run.top1Accuracy))
    throw new Error(`job ${job.id}: ${method.label} has a non-finite top-1 (${run.top1Accuracy})`);
  return {
    label: method.label,
    preset: method.preset,
    kind: method.kind,
    fingerprint: method.fingerprint,
    jobId: job.id,
    modelDigest: ctx.modelDigest,
    ...(method.sweep ? { sweep: method.sweep } : {}),
    top1: run.top1Accuracy,
    perClass: run.perClassAccuracy,
    meanLoss: run.meanLoss,
    testImages: run.sampleCount,
    syntheticImages: run.syntheticImages,
    trainSeconds: run.trainSeconds,
    generation:
      result.generation === null
        ? null
        : { images: result.generation.images, seconds: result.generation.seconds },
    cpuSeconds: result.cpuSeconds ?? null,
    ...(method.preset === AUTO_PRESET && job.result?.search ? { search: job.result.search } : {}),
  };
}

/** Turns a succeeded job into the cell's stored record (merged with what the cell already holds). */
async function record(
  cell: Cell,
  todo: readonly CellMethod[],
  job: Job,
  ctx: RunnerContext,
): Promise<CellRecord> {
  const result = job.result;
  if (result === null) throw new Error(`job ${job.id} succeeded without a result`);
  const methods: Record<string, StoredMethod> = {};
  for (const method of todo) {
    const found = result.methods.find((m) => m.label === method.label);
    if (found === undefined) throw new Error(`job ${job.id} has no result for ${method.label}`);
    methods[method.label] = storedMethod(cell, method, found, job, ctx);
  }
  const dataset = await getDataset(ctx.client, job.spec.datasetId);
  const { name: _name, ...request } = cell.dataset;
  const previous = await readCell(ctx.resultsDir, cell.id);
  return mergeCell(previous, {
    format: CELL_FORMAT,
    id: cell.id,
    kind: cell.kind,
    task: cell.task.id,
    shots: cell.shots,
    seed: cell.seed,
    classes: result.classes,
    dataset: {
      ...request,
      classes: [...(request.classes ?? [])],
      trainCount: dataset.trainCount,
      testCount: dataset.testCount,
    },
    classifier: cell.classifier,
    methods,
    job: {
      id: job.id,
      gateway: ctx.gateway,
      methods: todo.map((m) => m.label),
      submittedAt: job.createdAt,
      startedAt: job.startedAt,
      finishedAt: job.finishedAt,
      wallSeconds:
        job.startedAt && job.finishedAt
          ? (Date.parse(job.finishedAt) - Date.parse(job.startedAt)) / 1000
          : null,
      stages: result.stages,
    },
  });
}

/**
 * Runs the cell's `todo` methods as one job (or follows the job an interrupted run left) and stores the
 * outcome. A failed or cancelled job stores nothing and forgets the job, so the next run submits anew.
 */
export async function runCell(
  cell: Cell,
  todo: readonly CellMethod[],
  ctx: RunnerContext,
): Promise<CellOutcome> {
  const fingerprints = todo.map((m) => m.fingerprint);
  const job = (await resumable(cell, fingerprints, ctx)) ?? (await submit(cell, todo, ctx));
  const final = await follow(cell, job, ctx);
  if (final.state !== "succeeded") {
    await clearPending(ctx.stateDir, cell.id);
    return {
      state: "failed",
      jobId: final.id,
      error: `job ${final.id} ${final.state}: ${errorText(final.error)}`,
    };
  }
  let stored: CellRecord;
  try {
    stored = await record(cell, todo, final, ctx);
  } catch (error) {
    // Following the same job again would fail the same way: the next run submits anew.
    await clearPending(ctx.stateDir, cell.id);
    return { state: "failed", jobId: final.id, error: (error as Error).message };
  }
  const path = await writeCell(ctx.resultsDir, stored);
  await clearPending(ctx.stateDir, cell.id);
  return { state: "succeeded", record: stored, path, job: final };
}
