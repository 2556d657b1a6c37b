/** A learning-rate schedule: the rate for 1-based step t. Computed in TypeScript and fed to the graph. */
export type Schedule = (step: number) => number;

/** The same rate at every step. */
export function constantSchedule(lr: number): Schedule {
  return () => lr;
}

export interface WarmupCosineOptions {
  /** Peak learning rate reached at the end of warmup. */
  peak: number;
  /** Linear warmup steps from 0 to `peak` (default 0). */
  warmup?: number;
  /** Total steps; after warmup the rate follows a half cosine from `peak` to `min` at step `total`. */
  total: number;
  /** Final rate (default 0). */
  min?: number;
}

/** Linear warmup then cosine decay; constant at `min` after `total`. */
export function warmupCosine(o: WarmupCosineOptions): Schedule {
  const warmup = o.warmup ?? 0;
  const min = o.min ?? 0;
  return (step) => {
    if (step <= warmup) return (o.peak * step) / Math.max(1, warmup);
    if (step >= o.total) return min;
    const progress = (step - warmup) / Math.max(1, o.total - warmup);
    return min + 0.5 * (o.peak - min) * (1 + Math.cos(Math.PI * progress));
  };
}
