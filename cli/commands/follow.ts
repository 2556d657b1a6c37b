/**
 * Following a job to its end with progress bars per stage, then its results table — what `watch`,
 * `submit --watch` and `demo` share.
 */
import { getDataset, getJob } from "../client/api.js";
import { followJobEvents } from "../client/events.js";
import type { RestClient } from "../client/rest-client.js";
import type { Job, JobEvent } from "../client/types.js";
import { formatDuration } from "../progress/bar.js";
import { createJobProgress, planStages, type Stage } from "../progress/job-progress.js";
import { createRenderer } from "../progress/renderer.js";
import { formatResultsTable } from "../results/table.js";
import type { CommandContext } from "./context.js";

/** How a followed job ended. */
export interface FollowedJob {
  readonly job: Job;
  /** Wall seconds per stage, from the events. */
  readonly wallSeconds: Partial<Record<Stage, number>>;
  /** Wall seconds of the whole job (started → finished). */
  readonly jobSeconds: number | undefined;
}

/** A job's or task's error as one line. */
export function errorText(error: unknown): string {
  if (error === null || error === undefined) return "";
  if (typeof error === "string") return error;
  const e = error as { message?: string; code?: string; error?: unknown; taskKey?: string };
  if (e.message) return `${e.code ? `${e.code}: ` : ""}${e.message}`;
  if (e.error !== undefined) return `${e.taskKey ? `${e.taskKey}: ` : ""}${errorText(e.error)}`;
  return JSON.stringify(error);
}

function eventLine(event: JobEvent): string | undefined {
  const d = event.data ?? {};
  switch (event.type) {
    case "job.started":
      return "job started";
    case "task.retry_scheduled":
      return `retry: ${d.key} (attempt ${d.attempt}) after ${errorText(d.error)}`;
    case "task.failed":
      return `failed: ${d.key}: ${errorText(d.error)}`;
    case "job.failed":
      return `job failed${errorText(d) ? `: ${errorText(d)}` : ""}`;
    case "job.cancelled":
      return "job cancelled";
    case "job.succeeded":
      return "job succeeded";
    default:
      return undefined;
  }
}

/** Follows `jobId` with progress bars until it ends, then prints its results table. */
export async function followJob(
  ctx: CommandContext,
  client: RestClient,
  jobId: string,
  options: { lastEventId?: number } = {},
): Promise<FollowedJob> {
  const initial = await getJob(client, jobId);
  // A finished job outlives its dataset (datasetId null once deleted): follow it without the counts.
  const dataset = initial.datasetId === null ? undefined : await getDataset(client, initial.datasetId);
  const trainCount = dataset?.trainCount ?? 0;
  const progress = createJobProgress(planStages(initial.spec, trainCount));
  const renderer = createRenderer({ stream: ctx.io.stdout });
  ctx.print(
    `job ${jobId}${initial.name ? ` "${initial.name}"` : ""}: ${initial.spec.methods.length} methods × ${initial.spec.seeds.length} seeds on ${dataset ? `${dataset.name} (${trainCount} train images)` : "a deleted dataset"}`,
  );
  const tick = setInterval(() => renderer.update(progress.stages()), 1000);
  try {
    await followJobEvents(client, jobId, {
      lastEventId: options.lastEventId,
      signal: ctx.signal,
      onEvent: (event) => {
        progress.apply(event);
        const line = eventLine(event);
        if (line) renderer.message(line);
        renderer.update(progress.stages());
      },
      onReconnect: ({ lastEventId, reason }) =>
        renderer.message(`event stream interrupted (${reason}); resuming after event ${lastEventId}`),
    });
  } finally {
    clearInterval(tick);
  }
  renderer.finish(progress.stages());
  const job = await getJob(client, jobId);
  const jobSeconds =
    job.startedAt && job.finishedAt
      ? (Date.parse(job.finishedAt) - Date.parse(job.startedAt)) / 1000
      : undefined;
  const wallSeconds = progress.wallSeconds();
  ctx.print();
  if (job.state === "succeeded" && job.result !== null && job.spec.kind === "generate") {
    for (const method of job.result.methods) {
      const g = method.generation;
      ctx.print(
        `${method.label}: ${g?.images ?? 0} synthetic images${g?.imagesPerSecond ? ` at ${g.imagesPerSecond.toFixed(2)} img/s` : ""}`,
      );
    }
    ctx.print(`download: diffda fetch ${job.id} (or GET /v1/jobs/${job.id}/synthetic.zip)`);
    if (jobSeconds !== undefined) ctx.print(`job wall time ${formatDuration(jobSeconds)}`);
  } else if (job.state === "succeeded" && job.result !== null) {
    ctx.print(formatResultsTable(job, { wallSeconds, jobSeconds }));
  } else {
    ctx.print(`job ${job.id} ${job.state}${job.error ? `: ${errorText(job.error)}` : ""}`);
    if (jobSeconds !== undefined) ctx.print(`after ${formatDuration(jobSeconds)}`);
  }
  return { job, wallSeconds, jobSeconds };
}
