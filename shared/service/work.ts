import type { Metrics } from "../telemetry/index.js";
import { STAGE_SECONDS_BUCKETS } from "../telemetry/index.js";

/** How a unit of work ended, as a bounded metric label. */
export type WorkOutcome = "ok" | "cancelled" | "failed";

/** Names of the two metrics of one kind of work (without the `diffda_` prefix). */
export interface WorkMetricsOptions<L extends string> {
  /** Gauge of the work running now, e.g. "generation_shards_in_flight". */
  readonly inFlight: string;
  /** Histogram of its wall time in seconds, e.g. "generation_shard_duration_seconds". */
  readonly duration: string;
  /** What one unit is, for the help texts: "generation shard". */
  readonly what: string;
  /** Bounded labels of both (e.g. "method"); `outcome` is added to the histogram. */
  readonly labelNames?: readonly L[];
  /** Histogram buckets in seconds (default: the long job-stage buckets). */
  readonly buckets?: readonly number[];
}

/** Tracks one kind of long work (a shard, a training run) in a gauge and a duration histogram. */
export interface WorkMetrics<L extends string> {
  /** Counts a unit as started; call the returned function once when it ends. */
  start(labels: Readonly<Record<L, string>>): (outcome: WorkOutcome) => number;
}

/**
 * The common metrics of a service's work: a gauge of units in flight and a histogram of their durations in
 * seconds, labelled by outcome. Returns the seconds from `end` so callers can report them too.
 */
export function createWorkMetrics<L extends string = never>(
  metrics: Metrics,
  options: WorkMetricsOptions<L>,
): WorkMetrics<L> {
  const labelNames = options.labelNames ?? [];
  const gauge = metrics.gauge<L>({
    name: options.inFlight,
    help: `${options.what}s running now`,
    labelNames,
  });
  const histogram = metrics.histogram<L | "outcome">({
    name: options.duration,
    help: `Wall time of a ${options.what}, by outcome (ok, cancelled, failed)`,
    labelNames: [...labelNames, "outcome"],
    buckets: options.buckets ?? STAGE_SECONDS_BUCKETS,
  });
  return {
    start(labels) {
      const started = performance.now();
      gauge.inc(labels as never, 1);
      let ended = false;
      return (outcome) => {
        const seconds = (performance.now() - started) / 1000;
        if (ended) return seconds;
        ended = true;
        gauge.dec(labels as never, 1);
        histogram.observe({ ...labels, outcome } as never, seconds);
        return seconds;
      };
    },
  };
}

/**
 * The outcome label of work that ended with `error` (undefined: none): cancelled once its call's signal
 * fired, whatever the work did after (nothing it returns then reaches the client), else ok or failed.
 */
export function outcomeOf(error: unknown, signal?: AbortSignal): WorkOutcome {
  if (signal?.aborted) return "cancelled";
  return error === undefined ? "ok" : "failed";
}
