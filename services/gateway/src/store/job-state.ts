/**
 * Job-level transitions shared by the task and job repositories. Lock order, everywhere: a transaction
 * that changes a job or writes its events takes the job row first (`FOR NO KEY UPDATE`, which does not
 * block inserts whose foreign keys point at the job), then task rows. The claim query is the only
 * exception and it never waits: it skips locked rows of both tables. So no two transactions can wait on
 * each other in a cycle, and a job's events are inserted one transaction at a time, in commit order.
 */
import { json, type Queryable } from "./driver.js";
import type { AbortedTask, JobState, WebhookEvent } from "./types.js";
import { enqueueDelivery } from "./webhooks.js";

/** Locks a job row for the rest of the transaction; undefined when there is no such job. */
export async function lockJob(tx: Queryable, jobId: string): Promise<JobState | undefined> {
  const { rows } = await tx.query<{ state: JobState }>(
    "select state from jobs where id = $1 for no key update",
    [jobId],
  );
  return rows[0]?.state;
}

// Job transitions reported to webhooks as they are; progress is reported by events.ts, rate-limited.
const WEBHOOK_TRANSITIONS = new Set<string>(["job.started", "job.succeeded", "job.failed", "job.cancelled"]);

/**
 * Appends an event; the caller holds the job lock (see the module comment). A job transition its webhook
 * subscribes to is queued for delivery in the same transaction. Returns the event's id.
 */
export async function insertEvent(
  tx: Queryable,
  jobId: string,
  type: string,
  data: unknown,
): Promise<number> {
  const { rows } = await tx.query<{ id: number }>(
    "insert into job_events (job_id, type, data) values ($1, $2, coalesce($3::jsonb, '{}')) returning id",
    [jobId, type, json(data)],
  );
  if (WEBHOOK_TRANSITIONS.has(type)) await enqueueDelivery(tx, jobId, type as WebhookEvent, data);
  return rows[0].id;
}

/**
 * Cancels every pending and running task of a locked job. Running ones are returned with the lease they
 * had, so the orchestrator can abort their RPCs; their owners also learn it from a failing heartbeat.
 */
export async function cancelOpenTasks(tx: Queryable, jobId: string): Promise<AbortedTask[]> {
  const { rows } = await tx.query<{
    id: string;
    key: string;
    kind: string;
    previous_state: string;
    previous_owner: string | null;
    attempts: number;
  }>(
    `with open as (
       select id, state, lease_owner from tasks
       where job_id = $1 and state in ('pending', 'running')
       for update
     )
     update tasks t
        set state = 'cancelled', lease_owner = null, lease_expires_at = null,
            finished_at = now(), updated_at = now()
       from open
      where t.id = open.id
     returning t.id, t.key, t.kind, t.attempts, open.state as previous_state, open.lease_owner as previous_owner`,
    [jobId],
  );
  return rows
    .filter((row) => row.previous_state === "running")
    .map((row) => ({
      taskId: row.id,
      jobId,
      key: row.key,
      kind: row.kind,
      lease: { taskId: row.id, owner: row.previous_owner!, attempt: row.attempts },
    }));
}

/**
 * Fails a locked, still active job because one task failed for good; cancels the rest of its tasks.
 * `error` is what the job shows its caller: the task's key and stage (kind), its error, and when the task
 * ran out of retries, why.
 */
export async function failJob(
  tx: Queryable,
  jobId: string,
  error: { taskKey: string; stage?: string; error: unknown; gaveUp?: string },
): Promise<AbortedTask[]> {
  const { rowCount } = await tx.query(
    `update jobs set state = 'failed', error = $2::jsonb, finished_at = now(), updated_at = now()
      where id = $1 and state in ('queued', 'running')`,
    [jobId, json(error)],
  );
  if (rowCount === 0) return [];
  const aborted = await cancelOpenTasks(tx, jobId);
  await insertEvent(tx, jobId, "job.failed", error);
  return aborted;
}

/** Marks a locked, active job succeeded when every one of its tasks has succeeded. Returns its state. */
export async function settleIfDone(tx: Queryable, jobId: string): Promise<JobState> {
  const { rows } = await tx.query<{ id: string }>(
    `update jobs set state = 'succeeded', finished_at = now(), updated_at = now()
      where id = $1 and state in ('queued', 'running')
        and not exists (select 1 from tasks where job_id = $1 and state <> 'succeeded')
     returning id`,
    [jobId],
  );
  if (rows.length > 0) {
    await insertEvent(tx, jobId, "job.succeeded", {});
    return "succeeded";
  }
  return (await lockJob(tx, jobId))!;
}
