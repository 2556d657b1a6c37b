/** `diffda status | list | cancel | rm | methods`: reading, cancelling and deleting jobs, listing presets. */
import { readFile } from "node:fs/promises";
import {
  cancelJob,
  deleteResource,
  getJob,
  listAdapters,
  listJobs,
  listMethods,
  listModels,
  uploadAdapter,
} from "../client/api.js";
import type { JobState } from "../client/types.js";
import { formatDuration } from "../progress/bar.js";
import { formatMeanStd } from "../results/format.js";
import { renderTextTable } from "../results/table.js";
import type { CommandContext } from "./context.js";

/** Prints a job's state, task counts and (when done) its top-1 per method. */
export async function statusCommand(ctx: CommandContext, jobId: string, json: boolean): Promise<number> {
  const job = await getJob(ctx.client(), jobId);
  if (json) {
    ctx.print(JSON.stringify(job, null, 2));
    return 0;
  }
  const t = job.tasks;
  const ran =
    job.startedAt !== null
      ? formatDuration(
          ((job.finishedAt ? Date.parse(job.finishedAt) : Date.now()) - Date.parse(job.startedAt)) / 1000,
        )
      : "—";
  ctx.print(`job ${job.id}${job.name ? ` "${job.name}"` : ""}: ${job.state} (${ran})`);
  ctx.print(
    `tasks: ${t.succeeded}/${t.total} succeeded, ${t.running} running, ${t.pending} pending, ${t.failed} failed, ${t.cancelled} cancelled`,
  );
  ctx.print(
    `methods: ${job.spec.methods.map((m) => m.label).join(", ")}; seeds ${job.spec.seeds.join(", ")}`,
  );
  if (job.error) ctx.print(`error: ${JSON.stringify(job.error)}`);
  if (job.result) {
    for (const m of job.result.methods)
      ctx.print(`  ${m.label.padEnd(18)} top-1 ${formatMeanStd(m.top1Accuracy)} %`);
  }
  return job.state === "failed" ? 1 : 0;
}

/** Lists jobs, newest first. */
export async function listCommand(
  ctx: CommandContext,
  options: { state?: JobState; limit?: number; json: boolean },
): Promise<number> {
  const page = await listJobs(ctx.client(), { state: options.state, limit: options.limit ?? 20 });
  if (options.json) {
    ctx.print(JSON.stringify(page, null, 2));
    return 0;
  }
  if (page.items.length === 0) {
    ctx.print("no jobs");
    return 0;
  }
  ctx.print(
    renderTextTable(
      ["id", "state", "name", "created", "finished"],
      page.items.map((job) => [job.id, job.state, job.name ?? "", job.createdAt, job.finishedAt ?? ""]),
      ["left", "left", "left", "left", "left"],
    ),
  );
  if (page.nextCursor) ctx.print(`(more: --limit ${(options.limit ?? 20) * 2})`);
  return 0;
}

/** Cancels a job. */
export async function cancelCommand(ctx: CommandContext, jobId: string): Promise<number> {
  const job = await cancelJob(ctx.client(), jobId);
  ctx.print(`job ${job.id} ${job.state}`);
  return 0;
}

/** Deletes a finished job (or, with `dataset`, a dataset) and frees the bytes only it held. */
export async function removeCommand(
  ctx: CommandContext,
  kind: "job" | "dataset" | "adapter",
  id: string,
): Promise<number> {
  await deleteResource(ctx.client(), kind, id);
  ctx.print(`${kind} ${id} deleted`);
  return 0;
}

/** Lists the method presets. */
/**
 * `diffda adapters`: the key's adapters (uploaded, or trained by its jobs); `diffda adapters add FILE
 * --name N --kind lora|textual_inversion --model M` uploads one, checked against the model.
 */
export async function adaptersCommand(
  ctx: CommandContext,
  add?: {
    file: string;
    name: string;
    kind: "lora" | "textual_inversion";
    model: string;
    tokens?: readonly string[];
  },
): Promise<number> {
  if (add !== undefined) {
    const { file, ...options } = add;
    const adapter = await uploadAdapter(ctx.client(), new Uint8Array(await readFile(file)), options);
    ctx.print(
      `adapter ${adapter.id} (${adapter.kind} on ${adapter.model}): use it as "adapters": ["${adapter.id}"]`,
    );
    return 0;
  }
  const adapters = await listAdapters(ctx.client());
  ctx.print(
    renderTextTable(
      ["id", "kind", "model", "name", "trained by job"],
      adapters.map((a) => [a.id, a.kind, a.model, a.name, a.sourceJobId ?? "—"]),
      ["left", "left", "left", "left", "left"],
    ),
  );
  return 0;
}

/** `diffda models`: the models the deployment serves (a method picks one with generation.model). */
export async function modelsCommand(ctx: CommandContext): Promise<number> {
  const models = await listModels(ctx.client());
  ctx.print(
    renderTextTable(
      ["id", "native size", "sha256", "summary"],
      models.map((m) => [
        m.id,
        `${m.nativeSize.width}×${m.nativeSize.height}`,
        m.sha256.slice(0, 12),
        m.summary.length > 80 ? `${m.summary.slice(0, 79)}…` : m.summary,
      ]),
      ["left", "left", "left", "left"],
    ),
  );
  return 0;
}

export async function methodsCommand(ctx: CommandContext): Promise<number> {
  const methods = await listMethods(ctx.client());
  ctx.print(
    renderTextTable(
      ["id", "kind", "name", "reference"],
      methods.map((m) => [m.id, m.kind, m.name, m.reference]),
      ["left", "left", "left", "left"],
    ),
  );
  return 0;
}
