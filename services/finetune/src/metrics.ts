import type { Counter } from "prom-client";
import { createWorkMetrics, type WorkMetrics } from "../../../shared/service/index.js";
import type { Metrics } from "../../../shared/telemetry/index.js";

/** The finetune service's metrics. */
export interface FinetuneMetrics {
  /** `diffda_finetune_runs_in_flight{finetuning}`, `diffda_finetune_run_duration_seconds{finetuning,outcome}`. */
  readonly runs: WorkMetrics<"finetuning">;
  /** `diffda_finetune_steps_total{finetuning}`: optimizer steps taken. */
  readonly steps: Counter<"finetuning">;
}

/** Registers the finetune metrics. */
export function createFinetuneMetrics(metrics: Metrics): FinetuneMetrics {
  return {
    runs: createWorkMetrics(metrics, {
      inFlight: "finetune_runs_in_flight",
      duration: "finetune_run_duration_seconds",
      what: "fine-tuning run",
      labelNames: ["finetuning"],
    }),
    steps: metrics.counter({
      name: "finetune_steps_total",
      help: "Optimizer steps of fine-tuning, by fine-tuning method",
      labelNames: ["finetuning"],
    }),
  };
}
