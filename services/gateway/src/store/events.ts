/**
 * The per-job event log behind SSE. The store itself writes the lifecycle events (job.created,
 * job.started, task.started, task.succeeded, task.retry_scheduled, task.failed, task.released,
 * job.succeeded, job.failed, job.cancelled) in the transaction that makes the change; the orchestrator
 * appends progress events. Ids increase within a job in commit order (see job-state.ts), so replaying
 * "everything after Last-Event-ID" never misses an event that committed later with a smaller id.
 */
import type { Database } from "./driver.js";
import { StoreError } from "./errors.js";
import { isUuid } from "./ids.js";
import { insertEvent, lockJob } from "./job-state.js";
import { EVENT_COLUMNS, toEvent } from "./rows.js";
import type { JobEvent } from "./types.js";
import { enqueueDelivery } from "./webhooks.js";

/** Default spacing of `job.progress` webhook deliveries of one job. */
const DEFAULT_WEBHOOK_PROGRESS_INTERVAL_MS = 10_000;

/** Job events. */
export class EventRepository {
  readonly #db: Database;
  readonly #progressIntervalMs: number;

  /** `webhookProgressIntervalMs`: at most one `job.progress` webhook delivery per job per this long. */
  constructor(db: Database, options: { webhookProgressIntervalMs?: number } = {}) {
    this.#db = db;
    this.#progressIntervalMs = options.webhookProgressIntervalMs ?? DEFAULT_WEBHOOK_PROGRESS_INTERVAL_MS;
  }

  /**
   * Appends an event to a job's log and returns it. Throws `not_found` for an unknown job. A
   * `task.progress` event becomes a `job.progress` webhook delivery, at the rate limit above.
   */
  async append(jobId: string, type: string, data: unknown = {}): Promise<JobEvent> {
    if (!isUuid(jobId)) throw new StoreError("not_found", `no job ${jobId}`);
    return this.#db.transaction(async (tx) => {
      if ((await lockJob(tx, jobId)) === undefined) throw new StoreError("not_found", `no job ${jobId}`);
      const id = await insertEvent(tx, jobId, type, data);
      if (type === "task.progress")
        await enqueueDelivery(tx, jobId, "job.progress", data, this.#progressIntervalMs);
      const { rows } = await tx.query(`select ${EVENT_COLUMNS} from job_events where id = $1`, [id]);
      return toEvent(rows[0]);
    });
  }

  /** Events of a job with id greater than `afterId` (0: from the start), oldest first, at most `limit`. */
  async since(jobId: string, afterId = 0, limit = 1000): Promise<JobEvent[]> {
    if (!Number.isSafeInteger(afterId) || afterId < 0) {
      throw new StoreError("invalid_argument", "afterId must be a non-negative integer");
    }
    if (!isUuid(jobId)) return [];
    const { rows } = await this.#db.query(
      `select ${EVENT_COLUMNS} from job_events where job_id = $1 and id > $2 order by id limit $3`,
      [jobId, afterId, limit],
    );
    return rows.map(toEvent);
  }
}
