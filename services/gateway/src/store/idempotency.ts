/**
 * Idempotency-Key records for POST requests. The first request with a key stores `in_flight`; its
 * response replaces that with `completed`; a retry with the same key and the same payload gets the
 * stored response, one with another payload is refused. An in_flight record whose request crashed is
 * taken over by a retry once its lock has lapsed; every record is forgotten after its expiry.
 */
import { type Database, json } from "./driver.js";
import { StoreError } from "./errors.js";

/** What the REST layer should do with a request carrying an Idempotency-Key. */
export type IdempotencyBegin =
  /** First time (or the previous record expired or was abandoned): handle the request. */
  | { state: "new" }
  /** The same key is being handled right now: 409. */
  | { state: "in_flight" }
  /** The key was used for a different payload: 422. */
  | { state: "mismatch" }
  /** Already handled: replay this response. */
  | { state: "completed"; response: StoredResponse };

/** A response kept for replay. */
export interface StoredResponse {
  status: number;
  body: unknown;
}

/** Lifetimes of a record. */
export interface IdempotencyOptions {
  /** How long a record (and so a replayable response) is kept. Default 24 h. */
  ttlMs?: number;
  /** How long an in_flight record blocks retries before it counts as abandoned. Default 60 s. */
  lockMs?: number;
}

/** Idempotency keys. */
export class IdempotencyRepository {
  readonly #db: Database;
  readonly #ttlMs: number;
  readonly #lockMs: number;

  constructor(db: Database, options: IdempotencyOptions = {}) {
    this.#db = db;
    this.#ttlMs = options.ttlMs ?? 24 * 3600_000;
    this.#lockMs = options.lockMs ?? 60_000;
    if (!(this.#lockMs > 0 && this.#ttlMs >= this.#lockMs)) {
      throw new StoreError("invalid_argument", "idempotency lockMs must be positive and at most ttlMs");
    }
  }

  /**
   * Starts handling `key` for `principal` with a request whose canonical hash is `requestHash`. Two
   * concurrent calls with the same key: exactly one gets `new` (the other waits on the unique index
   * for the first to commit, then sees its record).
   */
  async begin(principal: string, key: string, requestHash: string): Promise<IdempotencyBegin> {
    if (key.length === 0 || key.length > 255) {
      throw new StoreError("invalid_argument", "an idempotency key is 1 to 255 characters");
    }
    return this.#db.transaction(async (tx) => {
      // An expired record is forgotten; an abandoned in_flight one is taken over by the same payload.
      await tx.query(
        `delete from idempotency_keys
          where principal = $1 and key = $2
            and (expires_at <= now() or (state = 'in_flight' and locked_until <= now() and request_hash = $3))`,
        [principal, key, requestHash],
      );
      const inserted = await tx.query(
        `insert into idempotency_keys (principal, key, request_hash, state, locked_until, expires_at)
         values ($1, $2, $3, 'in_flight', now() + $4::float8 * interval '1 millisecond',
                 now() + $5::float8 * interval '1 millisecond')
         on conflict (principal, key) do nothing
         returning key`,
        [principal, key, requestHash, this.#lockMs, this.#ttlMs],
      );
      if (inserted.rows.length > 0) return { state: "new" };
      const { rows } = await tx.query<{
        request_hash: string;
        state: "in_flight" | "completed";
        response_status: number | null;
        response_body: unknown;
      }>(
        `select request_hash, state, response_status, response_body from idempotency_keys
          where principal = $1 and key = $2`,
        [principal, key],
      );
      const record = rows[0];
      if (record === undefined) return { state: "in_flight" }; // deleted in between: the other side will retry
      if (record.request_hash !== requestHash) return { state: "mismatch" };
      if (record.state === "in_flight") return { state: "in_flight" };
      return {
        state: "completed",
        response: { status: record.response_status!, body: record.response_body ?? null },
      };
    });
  }

  /** Stores the response of a request begun with `new`. False when the record is gone or not in flight. */
  async complete(principal: string, key: string, response: StoredResponse): Promise<boolean> {
    const { rowCount } = await this.#db.query(
      `update idempotency_keys set state = 'completed', response_status = $3, response_body = $4::jsonb
        where principal = $1 and key = $2 and state = 'in_flight'`,
      [principal, key, response.status, json(response.body)],
    );
    return rowCount === 1;
  }

  /**
   * Forgets an in_flight record whose request failed before changing anything (a 5xx from a lost
   * connection), so the client's retry is handled afresh instead of waiting for the lock to lapse.
   */
  async release(principal: string, key: string): Promise<boolean> {
    const { rowCount } = await this.#db.query(
      "delete from idempotency_keys where principal = $1 and key = $2 and state = 'in_flight'",
      [principal, key],
    );
    return rowCount === 1;
  }

  /** Deletes expired records; returns how many. Run it now and then (they are also replaced lazily). */
  async purgeExpired(): Promise<number> {
    const { rowCount } = await this.#db.query("delete from idempotency_keys where expires_at <= now()");
    return rowCount;
  }
}
