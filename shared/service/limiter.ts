/** Bounds how many units of work run at once; the rest wait their turn in arrival order. */
export interface Limiter {
  /** Waits for a slot (rejecting with the signal's reason if it fires first); call the result to free it. */
  acquire(signal?: AbortSignal): Promise<() => void>;
  /** Units running now. */
  readonly active: number;
  /** Units waiting. */
  readonly waiting: number;
}

/** A {@link Limiter} with `max` slots. */
export function createLimiter(max: number): Limiter {
  if (!Number.isInteger(max) || max < 1) throw new RangeError(`max must be a positive integer, got ${max}`);
  let active = 0;
  const queue: { grant: () => void }[] = [];
  const release = () => {
    active--;
    const next = queue.shift();
    if (next) next.grant();
  };
  const slot = () => {
    let freed = false;
    return () => {
      if (freed) return;
      freed = true;
      release();
    };
  };
  return {
    get active() {
      return active;
    },
    get waiting() {
      return queue.length;
    },
    acquire(signal) {
      signal?.throwIfAborted();
      if (active < max) {
        active++;
        return Promise.resolve(slot());
      }
      return new Promise((resolve, reject) => {
        const entry = {
          grant: () => {
            signal?.removeEventListener("abort", onAbort);
            active++;
            resolve(slot());
          },
        };
        const onAbort = () => {
          const i = queue.indexOf(entry);
          if (i >= 0) queue.splice(i, 1);
          reject(signal?.reason);
        };
        signal?.addEventListener("abort", onAbort, { once: true });
        queue.push(entry);
      });
    },
  };
}
