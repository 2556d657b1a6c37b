/**
 * Per-key token buckets in memory: a key with `rateLimitPerMinute = n` holds up to n tokens, refilled
 * continuously at n per minute, and each request takes one. The burst is therefore one minute's worth,
 * and a steady client gets exactly n per minute. Per process: with several gateway replicas behind a
 * balancer a key gets up to n per replica (documented in docs/api.md).
 */

/** Outcome of {@link RateLimiter.take}. */
export type TakeResult = { ok: true; remaining: number } | { ok: false; retryAfterSeconds: number };

interface Bucket {
  tokens: number;
  /** Time of the last refill, ms. */
  at: number;
  limit: number;
}

/** Token buckets keyed by API key id. */
export class RateLimiter {
  readonly #buckets = new Map<string, Bucket>();
  readonly #now: () => number;
  readonly #maxBuckets: number;

  constructor(options: { now?: () => number; maxBuckets?: number } = {}) {
    this.#now = options.now ?? (() => performance.now());
    this.#maxBuckets = options.maxBuckets ?? 100_000;
  }

  /** Takes one token from `key`'s bucket of `perMinute` tokens. */
  take(key: string, perMinute: number): TakeResult {
    const now = this.#now();
    let bucket = this.#buckets.get(key);
    if (bucket === undefined || bucket.limit !== perMinute) {
      // A new key, or its limit changed: start full at the new size.
      bucket = { tokens: perMinute, at: now, limit: perMinute };
      this.#buckets.set(key, bucket);
      if (this.#buckets.size > this.#maxBuckets) this.#sweep(now);
    }
    const perMs = perMinute / 60_000;
    bucket.tokens = Math.min(perMinute, bucket.tokens + (now - bucket.at) * perMs);
    bucket.at = now;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { ok: true, remaining: Math.floor(bucket.tokens) };
    }
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / perMs / 1000)) };
  }

  /** Drops buckets that are full again (their keys would start full anyway). */
  #sweep(now: number): void {
    for (const [key, bucket] of this.#buckets) {
      if (bucket.tokens + (now - bucket.at) * (bucket.limit / 60_000) >= bucket.limit)
        this.#buckets.delete(key);
    }
  }
}
