/** What the engine benchmarks share: how a figure is timed, and the UNet they time. */
import type { UNetConfig } from "../shared/ml/models/index.js";

/** Median and minimum milliseconds of one run. */
export interface Timing {
  readonly median: number;
  readonly min: number;
}

/**
 * A timer that runs `fn` `warmup` times unmeasured, then `reps` times, and reports the median and the
 * minimum: on a shared machine the median includes other processes' load, the minimum is closer to the
 * engine's own speed.
 */
export function timer(reps: number): (fn: () => Promise<unknown>, warmup?: number) => Promise<Timing> {
  return async (fn, warmup = 3) => {
    for (let i = 0; i < warmup; i++) await fn();
    const ts: number[] = [];
    for (let i = 0; i < reps; i++) {
      const t0 = performance.now();
      await fn();
      ts.push(performance.now() - t0);
    }
    ts.sort((a, b) => a - b);
    return { median: ts[Math.floor(ts.length / 2)], min: ts[0] };
  };
}

/**
 * The UNet shape the engine benchmark times and bench/gpu exports for the GPU checks (1.35 M parameters,
 * attention at the second level).
 */
export const ENGINE_UNET: UNetConfig = Object.freeze({
  inChannels: 4,
  outChannels: 4,
  channels: [32, 64],
  attention: [false, true],
  layersPerLevel: 2,
  contextDim: 64,
  heads: 4,
  groups: 8,
});
