/**
 * The IETF RateLimit header fields (draft-ietf-httpapi-ratelimit-headers: `RateLimit-Policy` and
 * `RateLimit`, structured-field lists of a policy name with parameters) for a key's token bucket, so a
 * client can pace itself before it meets a 429. The policy is the key's own: `q` requests per `w` = 60
 * seconds; `r` is what is left now and `t` the seconds until the bucket is full again (on a 429: until
 * the next request is allowed, as Retry-After says).
 */
import type { TakeResult } from "../store/index.js";

/** The policy's name in both fields. */
const RATE_LIMIT_POLICY = "per-key";

/** The two header fields for one take from a bucket of `perMinute` requests per minute. */
export function rateLimitHeaders(perMinute: number, taken: TakeResult): Record<string, string> {
  const remaining = taken.ok ? taken.remaining : 0;
  const reset = taken.ok ? Math.ceil(((perMinute - remaining) * 60) / perMinute) : taken.retryAfterSeconds;
  return {
    "ratelimit-policy": `"${RATE_LIMIT_POLICY}";q=${perMinute};w=60`,
    ratelimit: `"${RATE_LIMIT_POLICY}";r=${remaining};t=${reset}`,
  };
}
