/**
 * When a task that did not finish may run again, and for how long it may keep trying.
 *
 * Backoff: after the n-th (1-based) infrastructure failure, or the n-th lost lease, of a task:
 *
 *     delay = min(capMs, baseMs · factor^(n−1)) · (1 − jitter · U),   U uniform in [0, 1)
 *
 * Exponential so a sick generation replica is not hammered; capped so a task is never parked long;
 * jitter that only shortens, so the cap holds and shards that failed together (a replica died with eight
 * in flight) do not all come back in the same instant.
 *
 * Budgets ({@link RetryBudget}): neither of those endings is the task's fault, so neither spends the
 * task's own attempts. Infrastructure failures (a service unreachable, overloaded, past its deadline)
 * are retried for a *time* — long enough to outlast a pod restart and an image pull — counted from the
 * first one; lost leases (the gateway running the task died) are retried a number of times, so that a
 * task that kills every replica that runs it still ends. A task's own failure (bad input, a bug) is final
 * at once. `max_attempts` bounds claims of every kind, as a backstop.
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

/** 2 s, 4 s, 8 s, … up to 1 min, each shortened by up to 20 %. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = { baseMs: 2_000, factor: 2, capMs: 60_000, jitter: 0.2 };

/** How long and how often a task is retried for failures that are not its own. */
export interface RetryBudget {
  /** Infrastructure failures are retried until this long after the task's first one. */
  infraRetryMs: number;
  /** Lost leases a task survives; the next one fails it. */
  maxLeaseLosses: number;
}

/** Ten minutes of infrastructure retries; ten owner crashes. */
export const DEFAULT_RETRY_BUDGET: RetryBudget = { infraRetryMs: 600_000, maxLeaseLosses: 10 };

/** Throws `invalid_argument` for a budget outside its ranges. */
export function checkRetryBudget(budget: RetryBudget): RetryBudget {
  const { infraRetryMs, maxLeaseLosses } = budget;
  if (!(infraRetryMs >= 0 && Number.isInteger(maxLeaseLosses) && maxLeaseLosses >= 0)) {
    throw new StoreError("invalid_argument", `invalid retry budget ${JSON.stringify(budget)}`);
  }
  return budget;
}

/** Throws `invalid_argument` for a policy outside its ranges. */
export function checkRetryPolicy(policy: RetryPolicy): RetryPolicy {
  const { baseMs, factor, capMs, jitter } = policy;
  if (!(baseMs >= 0 && factor >= 1 && capMs >= baseMs && jitter >= 0 && jitter <= 1)) {
    throw new StoreError("invalid_argument", `invalid retry policy ${JSON.stringify(policy)}`);
  }
  return policy;
}

/**
 * The SQL expression for the next run time of a task row whose counter `count` (the failures or lost
 * leases so far, the one that just happened included) is n, with the policy as parameters `$base`,
 * `$factor`, `$cap`, `$jitter` numbered from `first`. Pass {@link backoffParams}.
 */
export function backoffSql(first: number, count: "infra_failures" | "lease_losses"): string {
  const [base, factor, cap, jitter] = [first, first + 1, first + 2, first + 3].map((n) => `$${n}::float8`);
  return `now() + least(${cap}, ${base} * power(${factor}, greatest(${count}, 1) - 1)) * (1 - ${jitter} * random())
    * interval '1 millisecond'`;
}

/** The parameters {@link backoffSql} expects, in order. */
export function backoffParams(policy: RetryPolicy): number[] {
  return [policy.baseMs, policy.factor, policy.capMs, policy.jitter];
}
