/**
 * Backoff for repeated authentication failures, per client address. The first `freeFailures` failures in
 * a window cost nothing (a mistyped key, a rotated secret); after that each failure closes the address
 * for twice as long as the one before (1 s, 2 s, 4 s … up to `maxBlockMs`), and while it is closed every
 * request from it that presents a key is answered 429 `auth_throttled` with Retry-After *before* the key
 * is checked, so a guesser learns nothing from those requests. Failures older than `windowMs` are
 * forgotten. Successes do not reset the count (a caller holding one valid key could otherwise interleave
 * it with guesses).
 *
 * The state is per replica and in memory: keys carry 256-bit secrets, so this is about refusing noise
 * cheaply, not about making guessing possible to count across replicas, and a database write per failed
 * guess would turn the defence into an amplifier. The table is bounded; the oldest address goes first.
 */

/** Options of {@link createAuthFailureThrottle}. */
export interface AuthFailureOptions {
  /** Failures within the window that are not throttled (default 10). */
  freeFailures?: number;
  /** How long a failure is remembered (default 60 s). */
  windowMs?: number;
  /** First block after the free failures (default 1 s); each further failure doubles it. */
  baseBlockMs?: number;
  /** Longest block (default 60 s). */
  maxBlockMs?: number;
  /** Addresses tracked at once (default 10,000). */
  maxAddresses?: number;
  /** Clock (tests). */
  now?: () => number;
}

/** What {@link AuthFailureThrottle.check} says of an address. */
type ThrottleState = { blocked: false } | { blocked: true; retryAfterSeconds: number };

/** Per-address failure accounting. */
export interface AuthFailureThrottle {
  /** Whether `address` may present a key now. */
  check(address: string): ThrottleState;
  /** Records a failed authentication from `address`. */
  fail(address: string): void;
  /** Addresses tracked (for tests and metrics). */
  readonly size: number;
}

interface Entry {
  failures: number;
  lastFailureAt: number;
  blockedUntil: number;
}

/** A throttle with the given limits. */
export function createAuthFailureThrottle(options: AuthFailureOptions = {}): AuthFailureThrottle {
  const free = options.freeFailures ?? 10;
  const windowMs = options.windowMs ?? 60_000;
  const baseMs = options.baseBlockMs ?? 1000;
  const maxMs = options.maxBlockMs ?? 60_000;
  const capacity = options.maxAddresses ?? 10_000;
  const now = options.now ?? Date.now;
  const entries = new Map<string, Entry>();

  const current = (address: string, t: number): Entry | undefined => {
    const entry = entries.get(address);
    if (entry && t - entry.lastFailureAt > windowMs && t >= entry.blockedUntil) {
      entries.delete(address);
      return undefined;
    }
    return entry;
  };

  return {
    check(address) {
      const t = now();
      const entry = current(address, t);
      if (!entry || t >= entry.blockedUntil) return { blocked: false };
      return { blocked: true, retryAfterSeconds: Math.max(1, Math.ceil((entry.blockedUntil - t) / 1000)) };
    },
    fail(address) {
      const t = now();
      const entry = current(address, t) ?? { failures: 0, lastFailureAt: t, blockedUntil: 0 };
      entry.failures += 1;
      entry.lastFailureAt = t;
      const excess = entry.failures - free;
      if (excess > 0) entry.blockedUntil = t + Math.min(maxMs, baseMs * 2 ** Math.min(excess - 1, 30));
      // Re-inserting keeps the Map in least-recently-failed order, so eviction drops the stalest address.
      entries.delete(address);
      entries.set(address, entry);
      if (entries.size > capacity) entries.delete(entries.keys().next().value as string);
    },
    get size() {
      return entries.size;
    },
  };
}
