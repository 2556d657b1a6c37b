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
  checkRetryBudget,
  checkRetryPolicy,
  DEFAULT_RETRY_BUDGET,
  DEFAULT_RETRY_POLICY,
  type RetryBudget,
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
  /**
   * Infrastructure failure (UNAVAILABLE, DEADLINE_EXCEEDED, …): retried with backoff until the task's
   * infrastructure budget runs out. Otherwise the task itself failed, and that is final.
   */
  retryable: boolean;
}

/** Tasks and their leases. */
export class TaskRepository {
  readonly #db: Database;
  readonly #retry: RetryPolicy;
  readonly #budget: RetryBudget;

  constructor(db: Database, options: { retry?: RetryPolicy; budget?: RetryBudget } = {}) {
    this.#db = db;
    this.#retry = checkRetryPolicy(options.retry ?? DEFAULT_RETRY_POLICY);
    this.#budget = checkRetryBudget(options.budget ?? DEFAULT_RETRY_BUDGET);
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
   * Records a failure. A retryable (infrastructure) failure goes back to pending, due after the backoff,
   * while the task's infrastructure budget lasts (retry-policy.ts) and `max_attempts` is not reached.
   * Otherwise the task fails for good, its job fails, and the job's other open tasks are cancelled (the
   * running ones come back in `abort`). `error` is kept as the task's last error.
   */
  async fail(lease: TaskLease, error: unknown, options: FailOptions): Promise<FailOutcome> {
    return this.#withLockedJob(lease, async (tx, jobId) => {
      const held = await tx.query<{
        key: string;
        kind: string;
        attempts: number;
        max_attempts: number;
        infra_failures: number;
        within_budget: boolean;
      }>(
        `update tasks
            set infra_failures = infra_failures + case when $4 then 1 else 0 end,
                retry_deadline = case when $4
                  then coalesce(retry_deadline, now() + $5::float8 * interval '1 millisecond')
                  else retry_deadline end
          where id = $1 and lease_owner = $2 and attempts = $3 and state = 'running'
         returning key, kind, attempts, max_attempts, infra_failures,
                   coalesce(retry_deadline > now(), false) as within_budget`,
        [lease.taskId, lease.owner, lease.attempt, options.retryable, this.#budget.infraRetryMs],
      );
      const task = held.rows[0];
      if (task === undefined) return { outcome: "lease_lost" };
      const about = { taskId: lease.taskId, key: task.key, kind: task.kind, attempt: lease.attempt, error };
      if (options.retryable && task.within_budget && task.attempts < task.max_attempts) {
        const runAfter = await requeue(tx, [lease.taskId], error, this.#retry, "infra_failures");
        await insertEvent(tx, jobId, "task.retry_scheduled", { ...about, runAfter: runAfter[0].run_after });
        return { outcome: "retry_scheduled", runAfter: runAfter[0].run_after, attempt: lease.attempt };
      }
      const gaveUp = options.retryable
        ? task.within_budget
          ? `gave up after ${task.attempts} attempts (the most this task may make)`
          : `gave up after ${task.infra_failures} infrastructure failures over ${Math.round(this.#budget.infraRetryMs / 1000)} s`
        : undefined;
      return this.#failForGood(tx, jobId, { ...about, ...(gaveUp ? { gaveUp } : {}) });
    });
  }

  /** Fails a locked task for good, with its job; the job's error names the task, its stage and why. */
  async #failForGood(
    tx: Queryable,
    jobId: string,
    about: { taskId: string; key: string; kind: string; attempt: number; error: unknown; gaveUp?: string },
  ): Promise<FailOutcome & { outcome: "failed" }> {
    await tx.query(
      `update tasks
          set state = 'failed', error = $2::jsonb, lease_owner = null, lease_expires_at = null,
              finished_at = now(), updated_at = now()
        where id = $1`,
      [about.taskId, json(about.error)],
    );
    await insertEvent(tx, jobId, "task.failed", about);
    const abort = await failJob(tx, jobId, {
      taskKey: about.key,
      stage: about.kind,
      error: about.error,
      ...(about.gaveUp ? { gaveUp: about.gaveUp } : {}),
    });
    return { outcome: "failed", jobState: "failed", abort };
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
   * pending with backoff while it has lost no more than `maxLeaseLosses` leases and `max_attempts` is
   * not reached, or fails with its job. A lost lease is not the task's fault, so it spends only the
   * lease-loss budget. Call it periodically from every replica; concurrent calls are safe. Handles at
   * most `limit` jobs.
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
          position: number;
          attempts: number;
          max_attempts: number;
          lease_losses: number;
          lease_owner: string;
        }>(
          `with lost as (
             select id from tasks
              where job_id = $1 and state = 'running' and lease_expires_at < now()
                for update
           )
           update tasks t set lease_losses = t.lease_losses + 1
             from lost where t.id = lost.id
           returning t.id, t.key, t.kind, t.position, t.attempts, t.max_attempts, t.lease_losses, t.lease_owner`,
          [jobId],
        );
        // update … returning has no order; events and failures follow submission order.
        expired.sort((a, b) => a.position - b.position);
        const retry = expired.filter(
          (task) => task.attempts < task.max_attempts && task.lease_losses <= this.#budget.maxLeaseLosses,
        );
        const requeued = await requeue(
          tx,
          retry.map((task) => task.id),
          { code: "lease_expired" },
          this.#retry,
          "lease_losses",
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
          const gaveUp =
            task.attempts < task.max_attempts
              ? `its owner stopped ${task.lease_losses} times (the most a task survives is ${this.#budget.maxLeaseLosses})`
              : `gave up after ${task.attempts} attempts (the most this task may make)`;
          const failed = await this.#failForGood(tx, jobId, { ...about, error, gaveUp });
          result.failed.push(task.id);
          result.abort.push(...failed.abort);
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

/**
 * Puts locked running tasks back to pending, due after the backoff for the n-th failure or lost lease,
 * n being the task's `count` (already incremented for the run that just ended).
 */
async function requeue(
  tx: Queryable,
  taskIds: string[],
  error: unknown,
  policy: RetryPolicy,
  count: "infra_failures" | "lease_losses",
): Promise<{ id: string; run_after: Date }[]> {
  if (taskIds.length === 0) return [];
  const { rows } = await tx.query<{ id: string; run_after: Date }>(
    `update tasks
        set state = 'pending', run_after = ${backoffSql(3, count)}, error = $2::jsonb,
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
