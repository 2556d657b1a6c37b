/**
 * How long a failed task waits before it may run again. After attempt n (1-based) fails:
 *
 *     delay = min(capMs, baseMs · factor^(n−1)) · (1 − jitter · U),   U uniform in [0, 1)
 *
 * Exponential so a sick generation replica is not hammered; capped so a task is never parked for hours;
 * jitter that only shortens, so the cap holds and shards that failed together (a replica died with eight
 * in flight) do not all come back in the same instant. The same rule applies to an expired lease.
 */
import { StoreError } from "./errors.js";

/** Backoff parameters; see the module comment for the formula. */
export interface RetryPolicy {
  /** Delay after the first failed attempt, before jitter. */
  baseMs: number;
  /** Growth per further attempt (≥ 1). */
  factor: number;
  /** Largest delay. */
  capMs: number;
  /** Fraction in [0, 1] of the delay that jitter may remove. */
  jitter: number;
}

/** 2 s, 4 s, 8 s, … up to 5 min, each shortened by up to 20 %. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = { baseMs: 2_000, factor: 2, capMs: 300_000, jitter: 0.2 };

/** Throws `invalid_argument` for a policy outside its ranges. */
export function checkRetryPolicy(policy: RetryPolicy): RetryPolicy {
  const { baseMs, factor, capMs, jitter } = policy;
  if (!(baseMs >= 0 && factor >= 1 && capMs >= baseMs && jitter >= 0 && jitter <= 1)) {
    throw new StoreError("invalid_argument", `invalid retry policy ${JSON.stringify(policy)}`);
  }
  return policy;
}

/**
 * The SQL expression for the next run time of a task row whose `attempts` just failed, with the policy
 * as parameters `$base`, `$factor`, `$cap`, `$jitter` numbered from `first`. Pass {@link backoffParams}.
 */
export function backoffSql(first: number): string {
  const [base, factor, cap, jitter] = [first, first + 1, first + 2, first + 3].map((n) => `$${n}::float8`);
  return `now() + least(${cap}, ${base} * power(${factor}, attempts - 1)) * (1 - ${jitter} * random())
    * interval '1 millisecond'`;
}

/** The parameters {@link backoffSql} expects, in order. */
export function backoffParams(policy: RetryPolicy): number[] {
  return [policy.baseMs, policy.factor, policy.capMs, policy.jitter];
}
