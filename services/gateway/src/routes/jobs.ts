/** Job routes: submit, read, list, cancel. Events, artifacts and webhooks have their own files. */
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { DatasetSpec } from "../datasets/dataset-service.js";
import { ApiError } from "../errors.js";
import { type JobRequest, type JobSpec, type ResolvedAdapter, resolveJobSpec } from "../job-spec.js";
import { freeQuietly } from "../lifecycle/free-quietly.js";
import { planJob } from "../orchestrator/planner.js";
import { canSee } from "../plugins/auth.js";
import { idempotencyHeaders, idParams, noContent, pageOf, problemResponses } from "../schemas/common.js";
import { jobListQuery, jobRequestSchema, jobSchema, jobSummarySchema } from "../schemas/jobs.js";
import type { Job, JobState, TaskState } from "../store/index.js";
import { destinationProblem } from "../webhooks/destination.js";
import type { AppContext } from "./context.js";

/** The API's view of a job. */
function toJobResource(job: Job, counts: Record<TaskState, number>) {
  const spec = job.spec as JobSpec;
  const self = `/v1/jobs/${job.id}`;
  return {
    id: job.id,
    name: spec.name ?? null,
    state: job.state,
    datasetId: job.datasetId,
    spec,
    tasks: { ...counts, total: Object.values(counts).reduce((a, b) => a + b, 0) },
    result: job.result ?? null,
    error: job.error ?? null,
    createdAt: job.createdAt,
    updatedAt: job.updatedAt,
    startedAt: job.startedAt,
    finishedAt: job.finishedAt,
    links: { self, events: `${self}/events`, artifacts: `${self}/artifacts`, cancel: `${self}/cancel` },
  };
}

/** The job `id` if the caller may see it; 404 otherwise (someone else's job does not exist for you). */
export async function visibleJob(context: AppContext, request: FastifyRequest, id: string): Promise<Job> {
  const job = await context.store.jobs.get(id);
  if (job === undefined || !canSee(request.principal, job.apiKeyId))
    throw new ApiError("not_found", `no job ${id}`);
  return job;
}

/**
 * Refuses a webhook the gateway may not call (422 webhook_url_forbidden; a hostname is checked again
 * at each delivery) or cannot sign yet (422 webhook_secret_missing).
 */
async function checkWebhook(context: AppContext, principal: string, url: string): Promise<void> {
  const problem = destinationProblem(url, context.webhookDestinations);
  if (problem !== undefined) {
    throw new ApiError("webhook_url_forbidden", `the webhook URL ${problem}`, {
      errors: [{ field: "/body/webhook/url", message: problem }],
    });
  }
  if (!(await context.store.webhookSecrets.exists(principal))) {
    throw new ApiError("webhook_secret_missing", undefined, {
      errors: [
        { field: "/body/webhook", message: "create a signing secret with POST /v1/webhook-secret first" },
      ],
    });
  }
}

/**
 * Refuses a job whose methods name a model no generation replica serves, naming each field. When no
 * replica answers the check is skipped: the generate task then fails with the replica's model_not_found.
 */
async function checkModels(context: AppContext, methods: JobRequest["methods"]): Promise<void> {
  const named = methods.flatMap((method, i) => {
    const model = (method.generation as { model?: unknown } | undefined)?.model;
    return typeof model === "string" ? [{ i, model }] : [];
  });
  if (named.length === 0 || context.models === undefined) return;
  const served = await context.models.ids();
  if (served === undefined) return;
  const errors = named
    .filter(({ model }) => !served.has(model))
    .map(({ i, model }) => ({
      field: `/body/methods/${i}/generation/model`,
      message: `no generation replica serves "${model}" (GET /v1/models lists ${[...served].join(", ")})`,
    }));
  if (errors.length > 0) throw new ApiError("invalid_job_spec", errors[0].message, { errors });
}

/**
 * The stored adapters the methods name that this caller may use (its own; an admin's: any), as the
 * spec records them. Ids it may not see are left out, so resolution refuses them as unknown.
 */
async function visibleAdapters(
  context: AppContext,
  principal: Parameters<typeof canSee>[0],
  methods: JobRequest["methods"],
): Promise<Map<string, ResolvedAdapter>> {
  const ids = new Set(methods.flatMap((m) => m.adapters ?? []));
  const found = new Map<string, ResolvedAdapter>();
  for (const id of ids) {
    const adapter = await context.store.adapters.get(id);
    if (adapter === undefined || !canSee(principal, adapter.apiKeyId)) continue;
    found.set(id, {
      id,
      kind: adapter.kind,
      model: adapter.baseModel,
      sha256: adapter.sha256,
      tokens: adapter.tokens,
      rank: adapter.loraRank,
      alpha: adapter.loraAlpha,
    });
  }
  return found;
}

/** Registers /v1/jobs. */
export async function jobRoutes(app: FastifyInstance, { context }: { context: AppContext }): Promise<void> {
  const { store, limits } = context;

  app.post<{ Body: JobRequest }>(
    "/v1/jobs",
    {
      schema: {
        headers: idempotencyHeaders,
        body: jobRequestSchema,
        response: { 201: jobSchema, ...problemResponses },
      },
      config: {
        operationId: "createJob",
        scope: "submit",
        tag: "jobs",
        summary:
          "Submit a job: methods (presets with overrides, or custom specs) × seeds, beside the baselines",
        description:
          "The spec is resolved (presets expanded, defaults filled) and planned into a task DAG in one transaction: finetune → generate shards → train → evaluate → summarize. Schema errors are 400 validation_failed; consistent-looking specs that do not hold together are 422 invalid_job_spec; both name each field in errors[].",
      },
    },
    async (request, reply) => {
      if (request.body.webhook !== undefined)
        await checkWebhook(context, request.principal.id, request.body.webhook.url);
      const dataset = await store.datasets.get(request.body.datasetId);
      if (
        dataset === undefined ||
        !(dataset.apiKeyId === null || canSee(request.principal, dataset.apiKeyId))
      ) {
        throw new ApiError("invalid_job_spec", `no dataset ${request.body.datasetId}`, {
          errors: [{ field: "/body/datasetId", message: "names no dataset visible to this key" }],
        });
      }
      await checkModels(context, request.body.methods);
      const trainCount = (dataset.spec as DatasetSpec).trainCount;
      const resolved = resolveJobSpec(request.body, {
        trainCount,
        shardSize: limits.shardSize,
        maxSyntheticImages: limits.maxSyntheticImages,
        maxRuns: limits.maxRuns,
        adapters: await visibleAdapters(context, request.principal, request.body.methods),
      });
      if (resolved.spec === undefined) {
        throw new ApiError(
          "invalid_job_spec",
          `${resolved.issues.length} problem(s): ${resolved.issues[0].field}`,
          {
            errors: resolved.issues,
          },
        );
      }
      const { job, tasks } = await store.jobs.create({
        spec: resolved.spec,
        datasetId: dataset.id,
        apiKeyId: request.principal.apiKeyId,
        webhook: resolved.spec.webhook ?? null,
        adapterIds: resolved.spec.methods.flatMap((m) => (m.adapters ?? []).map((a) => a.id)),
        tasks: planJob(resolved.spec, { trainCount }),
      });
      context.metrics.jobsSubmitted.inc();
      const counts: Record<TaskState, number> = {
        pending: tasks.length,
        running: 0,
        succeeded: 0,
        failed: 0,
        cancelled: 0,
      };
      reply.code(201).header("location", `/v1/jobs/${job.id}`);
      return toJobResource(job, counts);
    },
  );

  app.get<{ Params: { id: string } }>(
    "/v1/jobs/:id",
    {
      schema: { params: idParams, response: { 200: jobSchema, ...problemResponses } },
      config: {
        operationId: "getJob",
        scope: "read",
        tag: "jobs",
        summary:
          "A job: state, task counts, and when done the results (accuracy per method and seed, mean ± std, per class, throughput, stage timings)",
      },
    },
    async (request) => {
      const job = await visibleJob(context, request, request.params.id);
      return toJobResource(job, await store.jobs.taskCounts(job.id));
    },
  );

  app.get<{ Querystring: { limit?: number; cursor?: string; state?: JobState } }>(
    "/v1/jobs",
    {
      schema: { querystring: jobListQuery, response: { 200: pageOf(jobSummarySchema), ...problemResponses } },
      config: {
        operationId: "listJobs",
        scope: "read",
        tag: "jobs",
        summary: "Jobs of this key (all for admins), newest first, cursor-paginated",
      },
    },
    async (request) => {
      const page = await store.jobs.list({
        limit: request.query.limit,
        cursor: request.query.cursor,
        state: request.query.state,
        ...(request.principal.admin ? {} : { apiKeyId: request.principal.apiKeyId ?? undefined }),
      });
      return {
        items: page.items.map((job) => ({
          id: job.id,
          name: (job.spec as JobSpec).name ?? null,
          state: job.state,
          datasetId: job.datasetId,
          createdAt: job.createdAt,
          finishedAt: job.finishedAt,
        })),
        nextCursor: page.nextCursor,
      };
    },
  );

  app.post<{ Params: { id: string } }>(
    "/v1/jobs/:id/cancel",
    {
      schema: {
        headers: idempotencyHeaders,
        params: idParams,
        response: { 200: jobSchema, ...problemResponses },
      },
      config: {
        operationId: "cancelJob",
        scope: "submit",
        tag: "jobs",
        summary: "Cancel a queued or running job: its tasks stop, running RPCs are aborted",
      },
    },
    async (request) => {
      await visibleJob(context, request, request.params.id);
      const outcome = await store.jobs.cancel(request.params.id);
      if (outcome.outcome === "not_found") throw new ApiError("not_found", `no job ${request.params.id}`);
      if (outcome.outcome === "already_finished") {
        throw new ApiError("job_not_cancellable", `the job already ${outcome.job.state}`);
      }
      context.orchestrator.abort(outcome.abort);
      context.metrics.jobsFinished.inc({ outcome: "cancelled" });
      return toJobResource(outcome.job, await store.jobs.taskCounts(outcome.job.id));
    },
  );

  app.delete<{ Params: { id: string } }>(
    "/v1/jobs/:id",
    {
      schema: { params: idParams, response: { 204: noContent, ...problemResponses } },
      config: {
        operationId: "deleteJob",
        scope: "submit",
        tag: "jobs",
        summary:
          "Delete a finished job with its events and artifacts (409 while queued or running: cancel first)",
        description:
          "The synthetic images, checkpoints and adapters only this job held are freed at once (content written or reused within ARTIFACT_GC_GRACE_MS waits for the next sweep).",
      },
    },
    async (request, reply) => {
      const job = await visibleJob(context, request, request.params.id);
      const outcome = await store.jobs.delete(job.id);
      if (outcome.outcome === "not_found") throw new ApiError("not_found", `no job ${job.id}`);
      if (outcome.outcome === "live") {
        throw new ApiError("job_not_finished", `the job is ${outcome.state}: cancel it first`);
      }
      await freeQuietly(context, request, outcome.blobs);
      return reply.code(204).send();
    },
  );
}
