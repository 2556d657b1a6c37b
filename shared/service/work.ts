import type { Metrics } from "../telemetry/index.js";
import { STAGE_SECONDS_BUCKETS } from "../telemetry/index.js";
import { type CpuMeter, processCpu } from "./cpu-meter.js";
import type { Limiter } from "./limiter.js";

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

/** One unit of work that got its turn: see {@link startWork}. */
export interface WorkRun {
  /** CPU seconds of this unit so far; the meter stops at {@link WorkRun.finish}, after which this is fixed. */
  cpuSeconds(): number;
  /**
   * Ends the unit (once; later calls return the first answer): stops its CPU span, frees its limiter slot,
   * records its outcome and wall time in the work metrics. `error` is what it failed with (undefined:
   * none); `signal` is its call's (a fired signal makes the outcome "cancelled").
   */
  finish(error: unknown, signal?: AbortSignal): { outcome: WorkOutcome; seconds: number; cpuSeconds: number };
}

/**
 * What every compute entry point does around its work (a shard, a fine-tuning run, a classifier training
 * or evaluation): wait for a slot of `limiter`, then meter the process's CPU and count the unit in
 * `metrics` under `labels` until {@link WorkRun.finish}. Rejects, holding nothing, if `signal` fires
 * while it waits.
 */
export async function startWork<L extends string>(
  limiter: Limiter,
  metrics: WorkMetrics<L>,
  labels: Readonly<Record<L, string>>,
  signal?: AbortSignal,
  meter: CpuMeter = processCpu,
): Promise<WorkRun> {
  const free = await limiter.acquire(signal);
  const cpu = meter.start();
  const end = metrics.start(labels);
  let finished: ReturnType<WorkRun["finish"]> | undefined;
  return {
    cpuSeconds: () => (finished === undefined ? cpu.seconds() : finished.cpuSeconds),
    finish(error, finishSignal) {
      if (finished !== undefined) return finished;
      const cpuSeconds = cpu.stop();
      free();
      const outcome = outcomeOf(error, finishSignal);
      finished = { outcome, seconds: end(outcome), cpuSeconds };
      return finished;
    },
  };
}
