import type { Metrics } from "../telemetry/index.js";

/**
 * Where a service's wall time goes inside its calls, by phase ("decode", "session", "compute", "encode"…):
 * one counter of seconds, `diffda_<service>_phase_seconds_total{phase}`, which a benchmark reads before
 * and after a job to split a task's time into its parts. Calls running side by side each add their own
 * time, so the phases of a busy service can sum to more than its wall time.
 */
export interface PhaseTimer {
  /** Runs `work`, adding its wall seconds to `phase` (also when it throws). */
  time<T>(phase: string, work: () => Promise<T>): Promise<T>;
  /** Adds `seconds` to `phase` (for time measured elsewhere, e.g. summed over steps). */
  add(phase: string, seconds: number): void;
}

/** Registers the phase counter of `service`. */
export function createPhaseTimer(metrics: Metrics, service: string): PhaseTimer {
  const counter = metrics.counter<"phase">({
    name: `${service}_phase_seconds_total`,
    help: `Wall seconds the ${service} service spent per phase of its calls (decode, session, compute, encode, …)`,
    labelNames: ["phase"],
  });
  const add = (phase: string, seconds: number) => counter.inc({ phase }, seconds);
  return {
    add,
    async time(phase, work) {
      const started = performance.now();
      try {
        return await work();
      } finally {
        add(phase, (performance.now() - started) / 1000);
      }
    },
  };
}
