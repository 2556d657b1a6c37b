import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import { LABEL_MEANINGS } from "./labels.js";

/** Prefix of every diffda metric. */
export const METRIC_PREFIX = "diffda_";

/**
 * Label names that would put per-job or free-text values into labels (unbounded cardinality). Per-job
 * history belongs in the job store and the REST API.
 */
const FORBIDDEN_LABELS = new Set(["job_id", "task_id", "request_id", "shard_index", "prompt", "dataset_id"]);

/**
 * Name parts that are not base units (`_ms`, `_mb_total`, `_minutes_`…); use seconds, bytes and ratios.
 * The lint of an exposition (lint.ts) applies the same rule.
 */
export const NON_BASE_UNITS =
  /_(milliseconds|ms|microseconds|us|nanoseconds|ns|minutes|hours|days|kilobytes|kb|megabytes|mb|gigabytes|gb|percent)(_|$)/;

/** A metric name: snake_case (colons are for recording rules). */
export const METRIC_NAME = /^[a-z][a-z0-9_]*$/;

/**
 * Prefixes of metrics that follow a standard exporter's names instead of diffda's (the gRPC server
 * metrics of go-grpc-prometheus and grpc-ecosystem, which stock gRPC dashboards query).
 */
export const STOCK_PREFIXES = ["grpc_server_"] as const;

/**
 * prom-client's default metrics that are gauges ending in `_total` (deprecated aliases of
 * `nodejs_active_handles` etc.): removed, so that only counters end in `_total`.
 */
const DEFAULT_GAUGES_NAMED_TOTAL = [
  "nodejs_active_handles_total",
  "nodejs_active_requests_total",
  "nodejs_active_resources_total",
];

/** Common options of the metric helpers. */
export interface MetricOptions<L extends string> {
  /**
   * Name without the `diffda_` prefix, snake_case, in base units (`..._seconds`, `..._bytes`); or, for a
   * name starting with one of {@link STOCK_PREFIXES}, the standard name as it is.
   */
  readonly name: string;
  /** One line on what is measured. */
  readonly help: string;
  /** Label names; bounded values only (method, code, stage), never ids or prompts. */
  readonly labelNames?: readonly L[];
}

/** Options of {@link Metrics.histogram}. */
export interface HistogramOptions<L extends string> extends MetricOptions<L> {
  /** Upper bounds of the buckets, in the metric's base unit (see buckets.ts). */
  readonly buckets: readonly number[];
}

/** A process's metric registry and helpers that register diffda-conformant metrics in it. */
export interface Metrics {
  /** The registry to expose on `/metrics`; one per process. */
  readonly registry: Registry;
  /** A counter; its name must end in `_total`. */
  counter<L extends string = never>(options: MetricOptions<L>): Counter<L>;
  /** A histogram with explicit buckets. */
  histogram<L extends string = never>(options: HistogramOptions<L>): Histogram<L>;
  /** A gauge (queue depths, in-flight calls, readiness). */
  gauge<L extends string = never>(options: MetricOptions<L>): Gauge<L>;
}

/** Options of {@link createMetrics}. */
export interface MetricsConfig {
  /** Register prom-client's process and Node.js metrics (CPU, memory, event loop lag, GC). Default true. */
  readonly defaultMetrics?: boolean;
  /** Labels added to every series, e.g. `{ service: "generation" }`. */
  readonly defaultLabels?: Readonly<Record<string, string>>;
}

function check(kind: "counter" | "histogram" | "gauge", name: string, labels: readonly string[]): string {
  const stock = STOCK_PREFIXES.some((prefix) => name.startsWith(prefix));
  if (!METRIC_NAME.test(name) || name.startsWith(METRIC_PREFIX)) {
    throw new TypeError(`metric name "${name}" must be snake_case without the "${METRIC_PREFIX}" prefix`);
  }
  if (NON_BASE_UNITS.test(name)) {
    throw new TypeError(`metric name "${name}" must use base units (seconds, bytes, ratio)`);
  }
  if (kind === "counter" && !name.endsWith("_total")) {
    throw new TypeError(`counter name "${name}" must end in _total`);
  }
  if (kind !== "counter" && name.endsWith("_total")) {
    throw new TypeError(`only counters end in _total, not the ${kind} "${name}"`);
  }
  for (const label of labels) {
    if (FORBIDDEN_LABELS.has(label)) {
      throw new TypeError(`label "${label}" of "${name}" has unbounded values; keep ids out of labels`);
    }
    if (!(label in LABEL_MEANINGS)) {
      throw new TypeError(`label "${label}" of "${name}" has no meaning in labels.ts; one meaning per label`);
    }
  }
  return stock ? name : METRIC_PREFIX + name;
}

/**
 * Creates a process's registry (with prom-client's process and Node.js metrics under their stock names
 * unless disabled, so stock dashboards work) and helpers that enforce the project's metric naming rules
 * (docs/api.md#metrics): `diffda_` prefix, base units, only counters ending in `_total`, no per-job
 * labels. Call once per process; tests may create as many as they like.
 */
export function createMetrics(config: MetricsConfig = {}): Metrics {
  const registry = new Registry();
  if (config.defaultLabels) registry.setDefaultLabels({ ...config.defaultLabels });
  if (config.defaultMetrics !== false) {
    collectDefaultMetrics({ register: registry });
    for (const name of DEFAULT_GAUGES_NAMED_TOTAL) registry.removeSingleMetric(name);
  }
  return {
    registry,
    counter: <L extends string>({ name, help, labelNames = [] }: MetricOptions<L>) =>
      new Counter<L>({ name: check("counter", name, labelNames), help, labelNames, registers: [registry] }),
    histogram: <L extends string>({ name, help, labelNames = [], buckets }: HistogramOptions<L>) =>
      new Histogram<L>({
        name: check("histogram", name, labelNames),
        help,
        labelNames,
        buckets: [...buckets],
        registers: [registry],
      }),
    gauge: <L extends string>({ name, help, labelNames = [] }: MetricOptions<L>) =>
      new Gauge<L>({ name: check("gauge", name, labelNames), help, labelNames, registers: [registry] }),
  };
}
