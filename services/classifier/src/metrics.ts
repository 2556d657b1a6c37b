import type { Counter } from "prom-client";
import {
  createPhaseTimer,
  createWorkMetrics,
  type PhaseTimer,
  type WorkMetrics,
} from "../../../shared/service/index.js";
import type { Metrics } from "../../../shared/telemetry/index.js";

/** The classifier service's metrics. */
export interface ClassifierMetrics {
  /** `diffda_classifier_trainings_in_flight{utilization}`, `diffda_classifier_training_duration_seconds{utilization,outcome}`. */
  readonly trainings: WorkMetrics<"utilization">;
  /** `diffda_classifier_evaluations_in_flight`, `diffda_classifier_evaluation_duration_seconds{outcome}`. */
  readonly evaluations: WorkMetrics<never>;
  /** `diffda_classifier_train_steps_total`: optimizer steps taken. */
  readonly steps: Counter;
  /**
   * `diffda_classifier_phase_seconds_total{phase}`: decode, session_open, train (the optimizer steps, with
   * the session's opening when the pool had none), accuracy (epoch-end), forward (evaluation), encode.
   */
  readonly phases: PhaseTimer;
}

/** Registers the classifier metrics. */
export function createClassifierMetrics(metrics: Metrics): ClassifierMetrics {
  return {
    trainings: createWorkMetrics(metrics, {
      inFlight: "classifier_trainings_in_flight",
      duration: "classifier_training_duration_seconds",
      what: "classifier training run",
      labelNames: ["utilization"],
    }),
    evaluations: createWorkMetrics(metrics, {
      inFlight: "classifier_evaluations_in_flight",
      duration: "classifier_evaluation_duration_seconds",
      what: "classifier evaluation",
    }),
    steps: metrics.counter({
      name: "classifier_train_steps_total",
      help: "Optimizer steps of classifier training",
    }),
    phases: createPhaseTimer(metrics, "classifier"),
  };
}
