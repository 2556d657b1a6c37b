/**
 * The lease lifecycle of tasks: claim, heartbeat, complete, fail, release, reclaim. Every call that
 * acts on a lease matches the row on (id, lease_owner, attempts, state = 'running') in the same
 * statement that changes it, so a lease that was reclaimed, cancelled or re-claimed since is simply
 * not found: the caller gets `lease_lost` and must drop its result. Time is the database's `now()`,
 * one clock for every gateway replica.
 */
import { type Database, json, type Queryable } from "./driver.js";
import { StoreError } from "./errors.js";
import { isUuid } from "./ids.js";
import { failJob, insertEvent, lockJob, settleIfDone } from "./job-state.js";
import {
  backoffParams,
  backoffSql,
  checkRetryPolicy,
  DEFAULT_RETRY_POLICY,
  type RetryPolicy,
} from "./retry-policy.js";
import { TASK_COLUMNS, toTask } from "./rows.js";
import type { AbortedTask, ClaimedTask, JobState, Task, TaskLease } from "./types.js";

/** Result of {@link TaskRepository.complete}. */
export type CompleteOutcome = { outcome: "succeeded"; jobState: JobState } | { outcome: "lease_lost" };

/** Result of {@link TaskRepository.fail}. */
export type FailOutcome =
  | { outcome: "retry_scheduled"; runAfter: Date; attempt: number }
  | { outcome: "failed"; jobState: JobState; abort: AbortedTask[] }
  | { outcome: "lease_lost" };

/** Result of {@link TaskRepository.reclaimExpired}. */
export interface ReclaimResult {
  /** Tasks put back to pending (with backoff) because their owner stopped heartbeating. */
  requeued: string[];
  /** Tasks that had used their last attempt: failed, and their jobs with them. */
  failed: string[];
  /** Running siblings cancelled because their job failed. */
  abort: AbortedTask[];
}

/** Tasks of one kind by readiness; see {@link TaskRepository.queueDepth}. */
export interface QueueDepth {
  runnable: number;
  waiting: number;
  running: number;
}

/** Options of {@link TaskRepository.fail}. */
export interface FailOptions {
  /** Infra failure (UNAVAILABLE, DEADLINE_EXCEEDED, …): retry with backoff while attempts remain. */
  retryable: boolean;
}

/** Tasks and their leases. */
export class TaskRepository {
  readonly #db: Database;
  readonly #retry: RetryPolicy;

  constructor(db: Database, options: { retry?: RetryPolicy } = {}) {
    this.#db = db;
    this.#retry = checkRetryPolicy(options.retry ?? DEFAULT_RETRY_POLICY);
  }

  /**
   * Claims up to `limit` runnable tasks for `owner` with a lease of `leaseMs`: pending, due
   * (`run_after <= now()`), every dependency succeeded, job neither finished nor cancelled, and of one of
   * `kinds` when given. Oldest due first, then submission order. Concurrent claimers never get the same
   * task: rows locked by another claim are skipped (`SKIP LOCKED`), never waited for. Counts an attempt.
   */
  async claim(
    owner: string,
    limit: number,
    leaseMs: number,
    kinds?: readonly string[],
  ): Promise<ClaimedTask[]> {
    checkOwner(owner);
    checkPositive("limit", limit);
    checkPositive("leaseMs", leaseMs);
    return this.#db.transaction(async (tx) => {
      const { rows: claimed } = await tx.query<{ id: string; job_id: string }>(
        `with runnable as (
           select t.id
             from tasks t
             join jobs j on j.id = t.job_id
            where t.state = 'pending'
              and t.run_after <= now()
              and j.state in ('queued', 'running')
              and ($3::text[] is null or t.kind = any($3::text[]))
              and not exists (
                    select 1 from task_dependencies d join tasks dep on dep.id = d.depends_on
                     where d.task_id = t.id and dep.state <> 'succeeded')
            order by t.run_after, j.created_at, t.job_id, t.position
            limit $2
              for update of t skip locked
              for no key update of j skip locked
         )
         update tasks t
            set state = 'running', attempts = t.attempts + 1,
                lease_owner = $1, lease_expires_at = now() + $4::float8 * interval '1 millisecond',
                heartbeat_at = now(), started_at = now(), updated_at = now()
           from runnable
          where t.id = runnable.id
         returning t.id, t.job_id`,
        [owner, limit, kinds === undefined ? null : [...kinds], leaseMs],
      );
      if (claimed.length === 0) return [];
      const ids = claimed.map((row) => row.id);
      // The job rows are locked by the claim above, so these events cannot interleave with others.
      const { rows: started } = await tx.query<{ id: string }>(
        `update jobs set state = 'running', started_at = now(), updated_at = now()
          where id = any($1::uuid[]) and state = 'queued'
         returning id`,
        [[...new Set(claimed.map((row) => row.job_id))]],
      );
      for (const { id } of started) await insertEvent(tx, id, "job.started", {});
      await tx.query(
        `insert into job_events (job_id, type, data)
         select job_id, 'task.started',
                jsonb_build_object('taskId', id, 'key', key, 'kind', kind, 'attempt', attempts, 'owner', lease_owner)
           from tasks where id = any($1::uuid[])
          order by job_id, position`,
        [ids],
      );
      const { rows } = await tx.query(
        `select ${TASK_COLUMNS} from tasks t where t.id = any($1::uuid[])
          order by t.run_after, t.job_id, t.position`,
        [ids],
      );
      return rows.map((row) => {
        const task = toTask(row);
        return { task, lease: { taskId: task.id, owner, attempt: task.attempts } };
      });
    });
  }

  /**
   * Extends a held lease to `now() + leaseMs`. False when the lease is lost: reclaimed after expiry,
   * cancelled, failed with its job, or claimed again (a newer attempt). A lease past its expiry that no
   * one has reclaimed yet is still held: only a row change takes a lease away, never the clock alone.
   */
  async heartbeat(lease: TaskLease, leaseMs: number): Promise<boolean> {
    checkPositive("leaseMs", leaseMs);
    if (!isUuid(lease.taskId)) return false;
    const { rowCount } = await this.#db.query(
      `update tasks
          set lease_expires_at = now() + $4::float8 * interval '1 millisecond', heartbeat_at = now(),
              updated_at = now()
        where id = $1 and lease_owner = $2 and attempts = $3 and state = 'running'`,
      [lease.taskId, lease.owner, lease.attempt, leaseMs],
    );
    return rowCount === 1;
  }

  /**
   * Records success and the task's output. When it was the job's last unfinished task the job becomes
   * `succeeded`; `jobResult`, when given, is stored as the job's result in the same transaction (the sink
   * task, e.g. `evaluate`, passes the report).
   */
  async complete(
    lease: TaskLease,
    output: unknown,
    options: { jobResult?: unknown } = {},
  ): Promise<CompleteOutcome> {
    return this.#withLockedJob(lease, async (tx, jobId) => {
      const { rows } = await tx.query<{ key: string; kind: string }>(
        `update tasks
            set state = 'succeeded', output = $4::jsonb, lease_owner = null, lease_expires_at = null,
                finished_at = now(), updated_at = now()
          where id = $1 and lease_owner = $2 and attempts = $3 and state = 'running'
         returning key, kind`,
        [lease.taskId, lease.owner, lease.attempt, json(output)],
      );
      if (rows.length === 0) return { outcome: "lease_lost" };
      if (options.jobResult !== undefined) {
        await tx.query("update jobs set result = $2::jsonb, updated_at = now() where id = $1", [
          jobId,
          json(options.jobResult),
        ]);
      }
      await insertEvent(tx, jobId, "task.succeeded", {
        taskId: lease.taskId,
        key: rows[0].key,
        kind: rows[0].kind,
        attempt: lease.attempt,
      });
      return { outcome: "succeeded", jobState: await settleIfDone(tx, jobId) };
    });
  }

  /**
   * Records a failure. Retryable and attempts left: back to pending, due after the backoff
   * (see retry-policy.ts). Otherwise the task fails for good, its job fails, and the job's other open
   * tasks are cancelled (the running ones come back in `abort`). `error` is kept as the task's last error.
   */
  async fail(lease: TaskLease, error: unknown, options: FailOptions): Promise<FailOutcome> {
    return this.#withLockedJob(lease, async (tx, jobId) => {
      const held = await tx.query<{ key: string; kind: string; attempts: number; max_attempts: number }>(
        `select key, kind, attempts, max_attempts from tasks
          where id = $1 and lease_owner = $2 and attempts = $3 and state = 'running'
            for update`,
        [lease.taskId, lease.owner, lease.attempt],
      );
      const task = held.rows[0];
      if (task === undefined) return { outcome: "lease_lost" };
      const about = { taskId: lease.taskId, key: task.key, kind: task.kind, attempt: lease.attempt, error };
      if (options.retryable && task.attempts < task.max_attempts) {
        const runAfter = await requeue(tx, [lease.taskId], error, this.#retry);
        await insertEvent(tx, jobId, "task.retry_scheduled", { ...about, runAfter: runAfter[0].run_after });
        return { outcome: "retry_scheduled", runAfter: runAfter[0].run_after, attempt: lease.attempt };
      }
      await tx.query(
        `update tasks
            set state = 'failed', error = $2::jsonb, lease_owner = null, lease_expires_at = null,
                finished_at = now(), updated_at = now()
          where id = $1`,
        [lease.taskId, json(error)],
      );
      await insertEvent(tx, jobId, "task.failed", about);
      const abort = await failJob(tx, jobId, { taskKey: task.key, error });
      return { outcome: "failed", jobState: "failed", abort };
    });
  }

  /**
   * Hands a lease back without blame (graceful shutdown): the task is pending and due now, and the
   * attempt is not counted. False when the lease was already lost.
   */
  async release(lease: TaskLease): Promise<boolean> {
    const outcome = await this.#withLockedJob(lease, async (tx, jobId) => {
      const { rows } = await tx.query<{ key: string }>(
        `update tasks
            set state = 'pending', attempts = attempts - 1, run_after = now(),
                lease_owner = null, lease_expires_at = null, updated_at = now()
          where id = $1 and lease_owner = $2 and attempts = $3 and state = 'running'
         returning key`,
        [lease.taskId, lease.owner, lease.attempt],
      );
      if (rows.length === 0) return { outcome: "lease_lost" as const };
      await insertEvent(tx, jobId, "task.released", { taskId: lease.taskId, key: rows[0].key });
      return { outcome: "released" as const };
    });
    return outcome.outcome === "released";
  }

  /**
   * Takes back running tasks whose lease expired (their owner crashed or hung): each goes back to
   * pending with backoff while attempts remain (the lost run counted as one), or fails with its job.
   * Call it periodically from every replica; concurrent calls are safe. Handles at most `limit` jobs.
   */
  async reclaimExpired(limit = 100): Promise<ReclaimResult> {
    const result: ReclaimResult = { requeued: [], failed: [], abort: [] };
    const { rows: jobs } = await this.#db.query<{ job_id: string }>(
      `select distinct job_id from tasks where state = 'running' and lease_expires_at < now() limit $1`,
      [limit],
    );
    for (const { job_id: jobId } of jobs) {
      await this.#db.transaction(async (tx) => {
        if ((await lockJob(tx, jobId)) === undefined) return;
        const { rows: expired } = await tx.query<{
          id: string;
          key: string;
          kind: string;
          attempts: number;
          max_attempts: number;
          lease_owner: string;
        }>(
          `select id, key, kind, attempts, max_attempts, lease_owner from tasks
            where job_id = $1 and state = 'running' and lease_expires_at < now()
            order by position
              for update`,
          [jobId],
        );
        const retry = expired.filter((task) => task.attempts < task.max_attempts);
        const requeued = await requeue(
          tx,
          retry.map((task) => task.id),
          { code: "lease_expired" },
          this.#retry,
        );
        const runAfter = new Map(requeued.map((row) => [row.id, row.run_after]));
        for (const task of expired) {
          const about = { taskId: task.id, key: task.key, kind: task.kind, attempt: task.attempts };
          const error = { code: "lease_expired", message: `lease of ${task.lease_owner} expired` };
          if (runAfter.has(task.id)) {
            await insertEvent(tx, jobId, "task.retry_scheduled", {
              ...about,
              error,
              runAfter: runAfter.get(task.id),
            });
            result.requeued.push(task.id);
            continue;
          }
          await tx.query(
            `update tasks
                set state = 'failed', error = $2::jsonb, lease_owner = null, lease_expires_at = null,
                    finished_at = now(), updated_at = now()
              where id = $1`,
            [task.id, json(error)],
          );
          await insertEvent(tx, jobId, "task.failed", { ...about, error });
          result.failed.push(task.id);
          result.abort.push(...(await failJob(tx, jobId, { taskKey: task.key, error })));
        }
      });
    }
    return result;
  }

  /**
   * Work per kind over active jobs, for queue-depth gauges and autoscaling: `runnable` tasks could be
   * claimed now, `waiting` ones are pending on dependencies or backoff, `running` ones hold a lease.
   */
  async queueDepth(): Promise<Record<string, QueueDepth>> {
    const { rows } = await this.#db.query<{
      kind: string;
      running: number;
      runnable: number;
      pending: number;
    }>(
      `select t.kind,
              count(*) filter (where t.state = 'running') as running,
              count(*) filter (where t.state = 'pending' and t.run_after <= now() and not exists (
                select 1 from task_dependencies d join tasks dep on dep.id = d.depends_on
                 where d.task_id = t.id and dep.state <> 'succeeded')) as runnable,
              count(*) filter (where t.state = 'pending') as pending
         from tasks t join jobs j on j.id = t.job_id
        where t.state in ('pending', 'running') and j.state in ('queued', 'running')
        group by t.kind`,
    );
    return Object.fromEntries(
      rows.map((row) => [
        row.kind,
        { runnable: row.runnable, waiting: row.pending - row.runnable, running: row.running },
      ]),
    );
  }

  /** One task with its dependency keys, or undefined. */
  async get(taskId: string): Promise<Task | undefined> {
    if (!isUuid(taskId)) return undefined;
    const { rows } = await this.#db.query(`select ${TASK_COLUMNS} from tasks t where t.id = $1`, [taskId]);
    return rows[0] === undefined ? undefined : toTask(rows[0]);
  }

  /** Every task of a job, in submission order. */
  async list(jobId: string): Promise<Task[]> {
    if (!isUuid(jobId)) return [];
    const { rows } = await this.#db.query(
      `select ${TASK_COLUMNS} from tasks t where t.job_id = $1 order by t.position`,
      [jobId],
    );
    return rows.map(toTask);
  }

  /** Runs `fn` in a transaction holding the lock of the lease's job; `lease_lost` when there is none. */
  async #withLockedJob<T extends { outcome: string }>(
    lease: TaskLease,
    fn: (tx: Queryable, jobId: string) => Promise<T | { outcome: "lease_lost" }>,
  ): Promise<T | { outcome: "lease_lost" }> {
    if (!isUuid(lease.taskId)) return { outcome: "lease_lost" };
    return this.#db.transaction(async (tx) => {
      // job_id never changes, so reading it before taking the job lock is safe.
      const { rows } = await tx.query<{ job_id: string }>("select job_id from tasks where id = $1", [
        lease.taskId,
      ]);
      if (rows.length === 0 || (await lockJob(tx, rows[0].job_id)) === undefined)
        return { outcome: "lease_lost" };
      return fn(tx, rows[0].job_id);
    });
  }
}

/** Puts locked running tasks back to pending, due after the backoff for the attempt that just ended. */
async function requeue(
  tx: Queryable,
  taskIds: string[],
  error: unknown,
  policy: RetryPolicy,
): Promise<{ id: string; run_after: Date }[]> {
  if (taskIds.length === 0) return [];
  const { rows } = await tx.query<{ id: string; run_after: Date }>(
    `update tasks
        set state = 'pending', run_after = ${backoffSql(3)}, error = $2::jsonb,
            lease_owner = null, lease_expires_at = null, updated_at = now()
      where id = any($1::uuid[])
     returning id, run_after`,
    [taskIds, json(error), ...backoffParams(policy)],
  );
  return rows;
}

function checkOwner(owner: string): void {
  if (owner.length === 0 || owner.length > 200) {
    throw new StoreError("invalid_argument", "owner must be 1 to 200 characters");
  }
}

function checkPositive(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) {
    throw new StoreError("invalid_argument", `${name} must be a positive integer`);
  }
}
