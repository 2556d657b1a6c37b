/**
 * Webhook deliveries: created by the store in the transaction of the job event they report
 * ({@link enqueueDelivery}), then leased, sent and settled by the dispatcher. Every call that acts on a
 * lease matches (id, lease_owner, attempts, state = 'delivering') in the statement that changes the row,
 * so a dispatcher whose lease expired and was taken over cannot settle the newer attempt. Time is the
 * database's `now()`, one clock for every replica.
 */
import { randomBytes } from "node:crypto";
import { decodeCursor, pageLimit, toPage } from "./cursor.js";
import { type Database, json, type Queryable } from "./driver.js";
import { StoreError } from "./errors.js";
import { isUuid } from "./ids.js";
import type { Page, WebhookEvent } from "./types.js";

/** The events a job's webhook may subscribe to. */
export const WEBHOOK_EVENTS: readonly WebhookEvent[] = [
  "job.started",
  "job.progress",
  "job.succeeded",
  "job.failed",
  "job.cancelled",
];

/** Lifecycle of a delivery; the last two are final. */
type DeliveryState = "pending" | "delivering" | "succeeded" | "failed";

/** One message to a job's webhook, with the outcome of its attempts so far. */
export interface WebhookDelivery {
  /** `msg_…`: the `webhook-id` header, the same on every attempt (receivers deduplicate by it). */
  id: string;
  jobId: string;
  eventType: WebhookEvent;
  /** The JSON body sent: `{type, timestamp, data}`. */
  payload: unknown;
  state: DeliveryState;
  attempts: number;
  nextAttemptAt: Date;
  lastStatus: number | null;
  lastError: string | null;
  createdAt: Date;
  deliveredAt: Date | null;
}

/** Proof of holding a delivery attempt; `attempt` fences a stale holder out. */
export interface DeliveryLease {
  deliveryId: string;
  owner: string;
  attempt: number;
}

/** A leased delivery with what sending it needs. */
export interface LeasedDelivery {
  delivery: WebhookDelivery;
  lease: DeliveryLease;
  url: string;
  /** The job owner's `whsec_…` secret; null when it was deleted since (the attempt then fails). */
  secret: string | null;
}

/** Result of {@link WebhookRepository.recordFailure}. */
export type DeliveryFailureOutcome =
  | { outcome: "retry_scheduled"; nextAttemptAt: Date }
  | { outcome: "failed" }
  | { outcome: "lease_lost" };

const COLUMNS =
  "d.id, d.job_id, d.event_type, d.payload, d.state, d.attempts, d.next_attempt_at, d.last_status, d.last_error, d.created_at, d.delivered_at";

const DELIVERY_ID = /^msg_[0-9a-f]{32}$/;

/** A new delivery id: `msg_` and 128 random bits in hex. */
function newDeliveryId(): string {
  return `msg_${randomBytes(16).toString("hex")}`;
}

/**
 * Inserts a delivery of `eventType` for a job whose webhook subscribes to it; nothing otherwise. The
 * caller holds the job lock (job-state.ts), which also makes the progress rate limit exact:
 * `minIntervalMs` > 0 skips the event when the job has a delivery of the same type younger than that.
 * Progress of a finished job is not reported. Returns the delivery id, or undefined when none was made.
 */
export async function enqueueDelivery(
  tx: Queryable,
  jobId: string,
  eventType: WebhookEvent,
  data: unknown,
  minIntervalMs = 0,
): Promise<string | undefined> {
  const id = newDeliveryId();
  const payload = {
    type: eventType,
    timestamp: new Date().toISOString(),
    data: { jobId, ...(isObject(data) ? data : {}) },
  };
  const { rows } = await tx.query<{ id: string }>(
    `insert into webhook_deliveries (id, job_id, event_type, payload)
     select $1, j.id, $3, $4::jsonb from jobs j
      where j.id = $2 and j.webhook is not null and (j.webhook -> 'events') @> to_jsonb($3::text)
        and ($3 <> 'job.progress' or j.state in ('queued', 'running'))
        and ($5::float8 <= 0 or not exists (
              select 1 from webhook_deliveries w
               where w.job_id = j.id and w.event_type = $3
                 and w.created_at > now() - $5::float8 * interval '1 millisecond'))
     returning id`,
    [id, jobId, eventType, json(payload), minIntervalMs],
  );
  return rows[0]?.id;
}

/** Webhook deliveries. */
export class WebhookRepository {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  /**
   * Queues a message of `eventType` for a job whose webhook subscribes to it, under the job's lock (the
   * store's own transitions use {@link enqueueDelivery} inside theirs). Returns its id, or undefined when
   * the job does not want it. Throws `not_found` for an unknown job.
   */
  async enqueue(jobId: string, eventType: WebhookEvent, data: unknown = {}): Promise<string | undefined> {
    if (!isUuid(jobId)) throw new StoreError("not_found", `no job ${jobId}`);
    return this.#db.transaction(async (tx) => {
      // The job lock of job-state.ts (not imported: job-state.ts imports this module).
      const { rows } = await tx.query("select 1 from jobs where id = $1 for no key update", [jobId]);
      if (rows.length === 0) throw new StoreError("not_found", `no job ${jobId}`);
      return enqueueDelivery(tx, jobId, eventType, data);
    });
  }

  /**
   * Leases up to `limit` deliveries for `owner` for `leaseMs`: pending ones that are due, and delivering
   * ones whose holder let the lease expire (it died or hung mid-request). Oldest due first. Concurrent
   * callers never get the same row (`SKIP LOCKED`). Counts an attempt.
   */
  async lease(owner: string, limit: number, leaseMs: number): Promise<LeasedDelivery[]> {
    if (owner.length === 0 || owner.length > 200)
      throw new StoreError("invalid_argument", "owner must be 1 to 200 characters");
    checkPositive("limit", limit);
    checkPositive("leaseMs", leaseMs);
    const { rows } = await this.#db.query(
      `with due as (
         select id from webhook_deliveries
          where (state = 'pending' and next_attempt_at <= now())
             or (state = 'delivering' and lease_expires_at <= now())
          order by next_attempt_at, created_at, id
          limit $2
            for update skip locked
       )
       update webhook_deliveries d
          set state = 'delivering', attempts = d.attempts + 1, lease_owner = $1,
              lease_expires_at = now() + $3::float8 * interval '1 millisecond'
         from due, jobs j
         left join webhook_secrets s on s.principal = coalesce(j.api_key_id::text, 'local')
        where d.id = due.id and j.id = d.job_id
       returning ${COLUMNS}, d.lease_owner, j.webhook ->> 'url' as url, s.secret`,
      [owner, limit, leaseMs],
    );
    return rows
      .map((row) => ({
        delivery: toDelivery(row),
        lease: { deliveryId: row.id as string, owner, attempt: row.attempts as number },
        url: row.url as string,
        secret: (row.secret as string | null) ?? null,
      }))
      .sort((a, b) => a.delivery.nextAttemptAt.getTime() - b.delivery.nextAttemptAt.getTime());
  }

  /** Settles an attempt the receiver acknowledged (2xx). False when the lease was lost meanwhile. */
  async recordSuccess(lease: DeliveryLease, status: number): Promise<boolean> {
    const { rowCount } = await this.#db.query(
      `update webhook_deliveries
          set state = 'succeeded', lease_owner = null, lease_expires_at = null,
              last_status = $4, last_error = null, delivered_at = now()
        where id = $1 and lease_owner = $2 and attempts = $3 and state = 'delivering'`,
      [lease.deliveryId, lease.owner, lease.attempt, status],
    );
    return rowCount === 1;
  }

  /**
   * Settles a failed attempt: due again after `retryDelayMs`, unless that is past `retryForMs` after the
   * delivery was created, which makes the failure final.
   */
  async recordFailure(
    lease: DeliveryLease,
    failure: { status: number | null; error: string; retryDelayMs: number; retryForMs: number },
  ): Promise<DeliveryFailureOutcome> {
    const { rows } = await this.#db.query<{ state: DeliveryState; next_attempt_at: Date }>(
      `with next as (
         select id, now() + $4::float8 * interval '1 millisecond' as at,
                created_at + $5::float8 * interval '1 millisecond' as deadline
           from webhook_deliveries
          where id = $1 and lease_owner = $2 and attempts = $3 and state = 'delivering'
       )
       update webhook_deliveries d
          set state = case when next.at > next.deadline then 'failed' else 'pending' end,
              next_attempt_at = case when next.at > next.deadline then d.next_attempt_at else next.at end,
              lease_owner = null, lease_expires_at = null, last_status = $6, last_error = $7
         from next
        where d.id = next.id
       returning d.state, d.next_attempt_at`,
      [
        lease.deliveryId,
        lease.owner,
        lease.attempt,
        failure.retryDelayMs,
        failure.retryForMs,
        failure.status,
        failure.error.slice(0, 1000),
      ],
    );
    if (rows.length === 0) return { outcome: "lease_lost" };
    return rows[0].state === "failed"
      ? { outcome: "failed" }
      : { outcome: "retry_scheduled", nextAttemptAt: rows[0].next_attempt_at };
  }

  /** A job's deliveries, newest first, keyset-paginated like the other lists. */
  async listForJob(
    jobId: string,
    options: { limit?: number; cursor?: string } = {},
  ): Promise<Page<WebhookDelivery>> {
    const limit = pageLimit(options.limit);
    const after = options.cursor === undefined ? undefined : decodeCursor(options.cursor, DELIVERY_ID);
    if (!isUuid(jobId)) return { items: [], nextCursor: null };
    const { rows } = await this.#db.query(
      `select ${COLUMNS} from webhook_deliveries d
        where d.job_id = $1
          and ($2::timestamptz is null or (d.created_at, d.id) < ($2::timestamptz, $3::text))
        order by d.created_at desc, d.id desc
        limit $4`,
      [jobId, after?.createdAt ?? null, after?.id ?? null, limit + 1],
    );
    return toPage(rows.map(toDelivery), limit);
  }
}

function toDelivery(row: Record<string, unknown>): WebhookDelivery {
  return {
    id: row.id as string,
    jobId: row.job_id as string,
    eventType: row.event_type as WebhookEvent,
    payload: row.payload,
    state: row.state as DeliveryState,
    attempts: row.attempts as number,
    nextAttemptAt: row.next_attempt_at as Date,
    lastStatus: (row.last_status as number | null) ?? null,
    lastError: (row.last_error as string | null) ?? null,
    createdAt: row.created_at as Date,
    deliveredAt: (row.delivered_at as Date | null) ?? null,
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function checkPositive(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) {
    throw new StoreError("invalid_argument", `${name} must be a positive integer`);
  }
}
