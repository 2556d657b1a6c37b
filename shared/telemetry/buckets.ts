/** Histogram buckets, in base units, shared so that dashboards can compare services. */

/** Latency of RPCs and HTTP requests, in seconds: 5 ms … 10 min. */
export const LATENCY_SECONDS_BUCKETS: readonly number[] = Object.freeze([
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600,
]);

/** Duration of long job stages (fine-tuning, a generation shard, classifier training), in seconds: 1 s … 12 h. */
export const STAGE_SECONDS_BUCKETS: readonly number[] = Object.freeze([
  1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 28800, 43200,
]);

/** Sizes of messages and artifacts, in bytes: 1 KiB … 1 GiB, by powers of 4. */
export const SIZE_BYTES_BUCKETS: readonly number[] = Object.freeze(
  Array.from({ length: 11 }, (_, i) => 1024 * 4 ** i),
);
