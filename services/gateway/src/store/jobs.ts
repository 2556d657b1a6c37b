/** Jobs: submission with their task DAG, reads, keyset listing, cancellation. */
import { randomUUID } from "node:crypto";
import { decodeCursor, pageLimit, toPage } from "./cursor.js";
import { validateDag } from "./dag.js";
import { type Database, json, sqlState } from "./driver.js";
import { StoreError } from "./errors.js";
import { checkUuid, isUuid } from "./ids.js";
import { cancelOpenTasks, insertEvent, lockJob } from "./job-state.js";
import { JOB_COLUMNS, TASK_COLUMNS, toJob, toTask } from "./rows.js";
import type { AbortedTask, Job, JobState, JobWebhook, Page, Task, TaskState } from "./types.js";

/** One task of a job being submitted. */
export interface NewTask {
  /** Unique within the job, e.g. `generate:method=diff-mix:seed=0:shard=3`. */
  key: string;
  /** What runs it: finetune, generate, train, evaluate, … */
  kind: string;
  /** Keys of tasks of the same job that must succeed first. */
  dependsOn?: readonly string[];
  /** What the worker needs (JSON). */
  input?: unknown;
  /** Attempts before a retryable failure becomes final. Default: the repository's (3). */
  maxAttempts?: number;
}

/** A job being submitted. */
export interface NewJob {
  /** Default: a random uuid. */
  id?: string;
  spec: unknown;
  datasetId?: string | null;
  apiKeyId?: string | null;
  /** Where to post the job's events (validated by the REST layer). */
  webhook?: JobWebhook | null;
  /** Adapters the job applies (recorded so deleting one waits for the job to finish). */
  adapterIds?: readonly string[];
  tasks: readonly NewTask[];
}

/** Filters and position of {@link JobRepository.list}. */
export interface ListJobsOptions {
  /** Page size, 1 to 100 (default 20). */
  limit?: number;
  /** `nextCursor` of the previous page. */
  cursor?: string;
  /** Only jobs submitted with this key. */
  apiKeyId?: string;
  /** Only jobs in this state. */
  state?: JobState;
}

/** Result of {@link JobRepository.cancel}. */
export type CancelOutcome =
  | { outcome: "cancelled"; job: Job; abort: AbortedTask[] }
  | { outcome: "already_finished"; job: Job }
  | { outcome: "not_found" };

/** What deleting a job did. */
export type JobDeleteOutcome =
  | { outcome: "deleted"; blobs: string[] }
  | { outcome: "not_found" }
  | { outcome: "live"; state: JobState };

/** Jobs. */
export class JobRepository {
  readonly #db: Database;
  readonly #defaultMaxAttempts: number;

  constructor(db: Database, options: { defaultMaxAttempts?: number } = {}) {
    this.#db = db;
    this.#defaultMaxAttempts = options.defaultMaxAttempts ?? 3;
  }

  /**
   * Stores a job and its whole task DAG in one transaction (all or nothing), state `queued`, and its
   * `job.created` event. Throws `invalid_dag` for an empty, duplicate-keyed, dangling or cyclic graph.
   */
  async create(input: NewJob): Promise<{ job: Job; tasks: Task[] }> {
    validateDag(input.tasks);
    checkUuid("id", input.id);
    checkUuid("datasetId", input.datasetId);
    checkUuid("apiKeyId", input.apiKeyId);
    for (const adapterId of input.adapterIds ?? []) checkUuid("adapterIds", adapterId);
    const jobId = input.id ?? randomUUID();
    const ids = new Map(input.tasks.map((task) => [task.key, randomUUID()]));
    const tasks = input.tasks.map((task, position) => {
      const maxAttempts = task.maxAttempts ?? this.#defaultMaxAttempts;
      if (!Number.isInteger(maxAttempts) || maxAttempts < 1) {
        throw new StoreError("invalid_argument", `task ${task.key}: maxAttempts must be a positive integer`);
      }
      return {
        id: ids.get(task.key),
        key: task.key,
        kind: task.kind,
        position,
        max_attempts: maxAttempts,
        input: task.input ?? {},
      };
    });
    const edges = input.tasks.flatMap((task) =>
      (task.dependsOn ?? []).map((dep) => ({ task_id: ids.get(task.key), depends_on: ids.get(dep) })),
    );
    const insert = this.#db.transaction(async (tx) => {
      const { rows } = await tx.query(
        `insert into jobs (id, spec, dataset_id, api_key_id, webhook) values ($1, $2::jsonb, $3, $4, $5::jsonb)
         returning ${JOB_COLUMNS}`,
        [jobId, json(input.spec ?? {}), input.datasetId ?? null, input.apiKeyId ?? null, json(input.webhook)],
      );
      await tx.query(
        `insert into tasks (id, job_id, key, kind, position, max_attempts, input)
         select x.id, $1, x.key, x.kind, x.position, x.max_attempts, x.input
           from jsonb_to_recordset($2::jsonb)
                as x(id uuid, key text, kind text, position integer, max_attempts integer, input jsonb)`,
        [jobId, json(tasks)],
      );
      if (edges.length > 0) {
        await tx.query(
          `insert into task_dependencies (task_id, depends_on)
           select x.task_id, x.depends_on from jsonb_to_recordset($1::jsonb) as x(task_id uuid, depends_on uuid)`,
          [json(edges)],
        );
      }
      if ((input.adapterIds ?? []).length > 0) {
        await tx.query(
          `insert into job_adapters (job_id, adapter_id)
           select $1, x from unnest($2::uuid[]) as x on conflict do nothing`,
          [jobId, [...new Set(input.adapterIds)]],
        );
      }
      await insertEvent(tx, jobId, "job.created", { tasks: tasks.length });
      const stored = await tx.query(
        `select ${TASK_COLUMNS} from tasks t where t.job_id = $1 order by t.position`,
        [jobId],
      );
      return { job: toJob(rows[0]), tasks: stored.rows.map(toTask) };
    });
    return insert.catch((error: unknown) => {
      if (sqlState(error) === "23503")
        throw new StoreError("invalid_argument", "unknown dataset, API key or adapter");
      if (sqlState(error) === "23505") throw new StoreError("conflict", `a job with id ${jobId} exists`);
      throw error;
    });
  }

  /** One job, or undefined. */
  async get(jobId: string): Promise<Job | undefined> {
    if (!isUuid(jobId)) return undefined;
    const { rows } = await this.#db.query(`select ${JOB_COLUMNS} from jobs where id = $1`, [jobId]);
    return rows[0] === undefined ? undefined : toJob(rows[0]);
  }

  /** How many of a job's tasks are in each state (states with none are 0). */
  async taskCounts(jobId: string): Promise<Record<TaskState, number>> {
    const counts: Record<TaskState, number> = {
      pending: 0,
      running: 0,
      succeeded: 0,
      failed: 0,
      cancelled: 0,
    };
    if (!isUuid(jobId)) return counts;
    const { rows } = await this.#db.query<{ state: TaskState; n: number }>(
      "select state, count(*) as n from tasks where job_id = $1 group by state",
      [jobId],
    );
    for (const row of rows) counts[row.state] = row.n;
    return counts;
  }

  /**
   * Newest first, keyset-paginated on (created_at, id): a page continues exactly after the previous one
   * even while jobs are being submitted (new jobs sort before the cursor, so they never shift pages).
   */
  async list(options: ListJobsOptions = {}): Promise<Page<Job>> {
    const limit = pageLimit(options.limit);
    checkUuid("apiKeyId", options.apiKeyId);
    const after = options.cursor === undefined ? undefined : decodeCursor(options.cursor);
    const { rows } = await this.#db.query(
      `select ${JOB_COLUMNS} from jobs
        where ($1::uuid is null or api_key_id = $1::uuid)
          and ($2::text is null or state = $2::text)
          and ($3::timestamptz is null or (created_at, id) < ($3::timestamptz, $4::uuid))
        order by created_at desc, id desc
        limit $5`,
      [
        options.apiKeyId ?? null,
        options.state ?? null,
        after?.createdAt ?? null,
        after?.id ?? null,
        limit + 1,
      ],
    );
    return toPage(rows.map(toJob), limit);
  }

  /**
   * Cancels a queued or running job: the job becomes `cancelled` and so do its pending and running
   * tasks. The running ones come back in `abort` so the orchestrator can abort their RPCs; their owners
   * also find out at the next heartbeat, and whatever they complete afterwards is refused (`lease_lost`).
   */
  async cancel(jobId: string): Promise<CancelOutcome> {
    if (!isUuid(jobId)) return { outcome: "not_found" };
    return this.#db.transaction(async (tx) => {
      const state = await lockJob(tx, jobId);
      if (state === undefined) return { outcome: "not_found" };
      if (state !== "queued" && state !== "running") {
        const { rows } = await tx.query(`select ${JOB_COLUMNS} from jobs where id = $1`, [jobId]);
        return { outcome: "already_finished", job: toJob(rows[0]) };
      }
      const { rows } = await tx.query(
        `update jobs set state = 'cancelled', finished_at = now(), updated_at = now() where id = $1
         returning ${JOB_COLUMNS}`,
        [jobId],
      );
      const abort = await cancelOpenTasks(tx, jobId);
      await insertEvent(tx, jobId, "job.cancelled", { abortedTasks: abort.length });
      return { outcome: "cancelled", job: toJob(rows[0]), abort };
    });
  }

  /**
   * Deletes a finished job with its tasks, events and artifact rows. A queued or running job is refused
   * (`live`): cancel it first, so no task of it can be writing while its rows go. Returns the digests its
   * artifacts held, for the caller to free those nothing else references.
   */
  async delete(jobId: string): Promise<JobDeleteOutcome> {
    if (!isUuid(jobId)) return { outcome: "not_found" };
    return this.#db.transaction(async (tx) => {
      const state = await lockJob(tx, jobId);
      if (state === undefined) return { outcome: "not_found" };
      if (state === "queued" || state === "running") return { outcome: "live", state };
      const blobs = await tx.query<{ sha256: string }>(
        "select distinct sha256 from artifacts where job_id = $1",
        [jobId],
      );
      await tx.query("delete from jobs where id = $1", [jobId]);
      return { outcome: "deleted", blobs: blobs.rows.map((row) => row.sha256) };
    });
  }

  /** Jobs that finished before `before` (retention candidates), oldest first. */
  async finishedBefore(before: Date, limit = 100): Promise<string[]> {
    const { rows } = await this.#db.query<{ id: string }>(
      "select id from jobs where finished_at < $1 order by finished_at limit $2",
      [before, limit],
    );
    return rows.map((row) => row.id);
  }
}
