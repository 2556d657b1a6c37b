/**
 * Per-key rate limits as token buckets in the database, shared by every gateway replica. A key with
 * `rate_limit_per_minute = n` holds up to n tokens, refilled continuously at n per minute; each request
 * takes one. The burst is therefore one minute's worth and a steady client gets n per minute, however
 * many replicas its requests are spread over.
 *
 * A take is one upsert: the row lock it takes serialises concurrent requests of a key (on any replica),
 * and the refill is computed from the locked row, so no two requests spend the same token. Time is the
 * database's (`statement_timestamp()`), one clock for every replica; `greatest` keeps a statement that
 * waited on the lock from moving the bucket's clock backwards.
 */
import type { Database } from "./driver.js";
import { StoreError } from "./errors.js";
import { isUuid } from "./ids.js";

/** Outcome of {@link RateLimitRepository.take}. */
export type TakeResult = { ok: true; remaining: number } | { ok: false; retryAfterSeconds: number };

// Tokens after refilling the locked row `b` up to now; a changed limit starts a full bucket of the new size.
const REFILL = `(case when b.per_minute = excluded.per_minute
    then least(b.per_minute::float8,
               b.tokens + greatest(0, extract(epoch from statement_timestamp() - b.refilled_at)::float8)
                          * b.per_minute / 60.0)
    else excluded.per_minute::float8 end)`;

/** Token buckets keyed by API key id. */
export class RateLimitRepository {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  /** Takes one token from the bucket of key `apiKeyId`, whose limit is `perMinute` requests per minute. */
  async take(apiKeyId: string, perMinute: number): Promise<TakeResult> {
    if (!Number.isInteger(perMinute) || perMinute < 1) {
      throw new StoreError("invalid_argument", "perMinute must be a positive integer");
    }
    if (!isUuid(apiKeyId)) throw new StoreError("invalid_argument", "apiKeyId must be a uuid");
    const { rows } = await this.#db.query<{ tokens: number; last_taken: boolean }>(
      `insert into rate_limit_buckets as b (api_key_id, per_minute, tokens, refilled_at, last_taken)
       values ($1, $2::int, $2::float8 - 1, statement_timestamp(), true)
       on conflict (api_key_id) do update
          set per_minute = excluded.per_minute,
              tokens = ${REFILL} - case when ${REFILL} >= 1 then 1 else 0 end,
              refilled_at = greatest(b.refilled_at, statement_timestamp()),
              last_taken = ${REFILL} >= 1
       returning tokens, last_taken`,
      [apiKeyId, perMinute],
    );
    const { tokens, last_taken: taken } = rows[0];
    if (taken) return { ok: true, remaining: Math.floor(tokens) };
    // The time until the bucket holds one whole token again.
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil(((1 - tokens) * 60) / perMinute)) };
  }
}
