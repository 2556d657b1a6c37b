/** Structured logs (pino), Prometheus metrics (prom-client) and the `/metrics` HTTP endpoint. */

export { LATENCY_SECONDS_BUCKETS, SIZE_BYTES_BUCKETS, STAGE_SECONDS_BUCKETS } from "./buckets.js";
export { type MetricsServer, type MetricsServerOptions, startMetricsServer } from "./http.js";
export { LABEL_MEANINGS } from "./labels.js";
export { lintExposition } from "./lint.js";
export { childLogger, createLogger, type Logger, type LoggerConfig } from "./logger.js";
export {
  createMetrics,
  type HistogramOptions,
  METRIC_PREFIX,
  type MetricOptions,
  type Metrics,
  type MetricsConfig,
} from "./metrics.js";
