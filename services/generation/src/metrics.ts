import type { Counter } from "prom-client";
import {
  createPhaseTimer,
  createWorkMetrics,
  type PhaseTimer,
  type WorkMetrics,
} from "../../../shared/service/index.js";
import type { Metrics } from "../../../shared/telemetry/index.js";

/** The generation service's metrics. */
export interface GenerationMetrics {
  /** `diffda_generation_images_total{generation}`: images streamed back. */
  readonly images: Counter<"generation">;
  /** `diffda_generation_samples_skipped_total{generation}`: samples skipped on the caller's request. */
  readonly skipped: Counter<"generation">;
  /** `diffda_generation_adapter_cache_lookups_total{result}`: shards with adapters, by cache hit or miss. */
  readonly adapterCache: Counter<"result">;
  /**
   * `diffda_generation_shards_in_flight{generation}` and `diffda_generation_shard_duration_seconds{generation,outcome}`.
   */
  readonly shards: WorkMetrics<"generation">;
  /**
   * `diffda_generation_phase_seconds_total{phase}`: model (a shard's model lease: adapters merged or found),
   * engine (batches on the engine: denoising and PNG encoding; overlaps the sending of the last batch).
   */
  readonly phases: PhaseTimer;
}

/** Registers the generation metrics (`generation` labels are the generation modes: bounded). */
export function createGenerationMetrics(metrics: Metrics): GenerationMetrics {
  return {
    images: metrics.counter({
      name: "generation_images_total",
      help: "Generated images streamed back, by generation mode",
      labelNames: ["generation"],
    }),
    skipped: metrics.counter({
      name: "generation_samples_skipped_total",
      help: "Samples of a shard skipped because the caller already held them (skip_sample_indices)",
      labelNames: ["generation"],
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
      labelNames: ["generation"],
    }),
    phases: createPhaseTimer(metrics, "generation"),
  };
}
