import { DataError } from "./errors.js";

/**
 * Rng stream numbers for per-epoch draws: one seed, and for each epoch a separate stream per purpose, so
 * e.g. turning augmentation on never changes the shuffle order.
 */
export const STREAM_PURPOSES = { shuffle: 0, augment: 1, mix: 2, utilization: 3 } as const;
const PURPOSES = 8;

/** Largest epoch number (streams are 32-bit). */
export const MAX_EPOCH = Math.floor(0xffff_ffff / PURPOSES) - 1;

/** The Rng stream for `purpose` in `epoch`. */
export function epochStream(epoch: number, purpose: keyof typeof STREAM_PURPOSES): number {
  if (!Number.isInteger(epoch) || epoch < 0 || epoch > MAX_EPOCH) {
    throw new DataError("invalid_argument", `epoch must be an integer in [0, ${MAX_EPOCH}], got ${epoch}`);
  }
  return epoch * PURPOSES + STREAM_PURPOSES[purpose];
}
