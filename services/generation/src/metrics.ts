import type { Counter } from "prom-client";
import {
  createPhaseTimer,
  createWorkMetrics,
  type PhaseTimer,
  type WorkMetrics,
} from "../../../shared/service/index.js";
import type { Metrics } from "../../../shared/telemetry/index.js";
import type { MethodKind } from "./request.js";

/** The generation service's metrics. */
export interface GenerationMetrics {
  /** `diffda_generation_images_total{method}`: images streamed back. */
  readonly images: Counter<"method">;
  /** `diffda_generation_samples_skipped_total{method}`: samples skipped on the caller's request. */
  readonly skipped: Counter<"method">;
  /** `diffda_generation_adapter_cache_lookups_total{result}`: shards with adapters, by cache hit or miss. */
  readonly adapterCache: Counter<"result">;
  /**
   * `diffda_generation_shards_in_flight{method}` and `diffda_generation_shard_duration_seconds{method,outcome}`.
   */
  readonly shards: WorkMetrics<"method">;
  /**
   * `diffda_generation_phase_seconds_total{phase}`: model (a shard's model lease: adapters merged or found),
   * engine (batches on the engine: denoising and PNG encoding; overlaps the sending of the last batch).
   */
  readonly phases: PhaseTimer;
}

/** Registers the generation metrics (method labels are the six method kinds: bounded). */
export function createGenerationMetrics(metrics: Metrics): GenerationMetrics {
  return {
    images: metrics.counter({
      name: "generation_images_total",
      help: "Generated images streamed back, by method",
      labelNames: ["method"],
    }),
    skipped: metrics.counter({
      name: "generation_samples_skipped_total",
      help: "Samples of a shard skipped because the caller already held them (skip_sample_indices)",
      labelNames: ["method"],
    }),
    adapterCache: metrics.counter({
      name: "generation_adapter_cache_lookups_total",
      help: "Shards with adapters, by whether the adapted model was cached (hit) or merged for them (miss)",
      labelNames: ["result"],
    }),
    shards: createWorkMetrics(metrics, {
      inFlight: "generation_shards_in_flight",
      duration: "generation_shard_duration_seconds",
      what: "generation shard",
      labelNames: ["method"],
    }),
    phases: createPhaseTimer(metrics, "generation"),
  };
}

/** The method label of a shard. */
export type MethodLabel = MethodKind;
