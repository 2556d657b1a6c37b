import type { TimestepSpacing } from "./config.js";
import { arange, linspace, roundHalfEven } from "./numpy-compat.js";

function checkSteps(numInferenceSteps: number, numTrainTimesteps: number): void {
  if (!Number.isInteger(numInferenceSteps) || numInferenceSteps < 1) {
    throw new RangeError(`numInferenceSteps must be a positive integer, got ${numInferenceSteps}`);
  }
  if (numInferenceSteps > numTrainTimesteps) {
    throw new RangeError(
      `numInferenceSteps (${numInferenceSteps}) cannot exceed num_train_timesteps (${numTrainTimesteps})`,
    );
  }
}

/**
 * Throws when a grid leaves [0, T − 1]: diffusers would index past its tables (for example 1000 leading steps
 * with steps_offset 1 give timestep 1000).
 */
function checkRange(timesteps: number[], numTrainTimesteps: number, stepsOffset: number): number[] {
  for (const t of timesteps) {
    if (!(t >= 0 && t <= numTrainTimesteps - 1)) {
      throw new RangeError(
        `${timesteps.length} steps with steps_offset ${stepsOffset} give timestep ${t}, outside [0, ${numTrainTimesteps - 1}]`,
      );
    }
  }
  return timesteps;
}

/**
 * Descending integer timesteps of DDPM and DDIM (`set_timesteps` of `DDPMScheduler` / `DDIMScheduler`):
 * - linspace: round(linspace(0, T−1, n)) reversed;
 * - leading: (0, r, 2r, …)·reversed + steps_offset with r = T div n;
 * - trailing: round(arange(T, 0, −T/n)) − 1.
 */
export function discreteTimesteps(
  spacing: TimestepSpacing,
  numInferenceSteps: number,
  numTrainTimesteps: number,
  stepsOffset: number,
): number[] {
  checkSteps(numInferenceSteps, numTrainTimesteps);
  const n = numInferenceSteps;
  const grid = ((): number[] => {
    switch (spacing) {
      case "linspace":
        return linspace(0, numTrainTimesteps - 1, n)
          .map(roundHalfEven)
          .reverse();
      case "leading": {
        const ratio = Math.floor(numTrainTimesteps / n);
        return Array.from({ length: n }, (_, i) => (n - 1 - i) * ratio + stepsOffset);
      }
      case "trailing":
        return arange(numTrainTimesteps, 0, -numTrainTimesteps / n).map((t) => roundHalfEven(t) - 1);
    }
  })();
  return checkRange(grid, numTrainTimesteps, stepsOffset);
}

// jscpd:ignore-start (the same arguments and checks as discreteTimesteps, another grid)
/**
 * Ascending timesteps of `DDIMInverseScheduler.set_timesteps` (leading or trailing only, as diffusers).
 */
export function inverseTimesteps(
  spacing: TimestepSpacing,
  numInferenceSteps: number,
  numTrainTimesteps: number,
  stepsOffset: number,
): number[] {
  checkSteps(numInferenceSteps, numTrainTimesteps);
  const n = numInferenceSteps;
  const grid = ((): number[] => {
    // jscpd:ignore-end
    switch (spacing) {
      case "leading": {
        const ratio = Math.floor(numTrainTimesteps / n);
        return Array.from({ length: n }, (_, i) => i * ratio + stepsOffset);
      }
      case "trailing":
        return arange(numTrainTimesteps, 0, -numTrainTimesteps / n)
          .reverse()
          .map((t) => roundHalfEven(t) - 1);
      case "linspace":
        throw new RangeError(
          "DDIMInverseScheduler supports timestep_spacing leading or trailing, not linspace",
        );
    }
  })();
  return checkRange(grid, numTrainTimesteps, stepsOffset);
}

/**
 * Descending timesteps of `DPMSolverMultistepScheduler.set_timesteps`, which lays n + 1 points and drops the
 * last. `lastTimestep` is T minus the steps clipped by `lambda_min_clipped` (T when nothing is clipped).
 */
export function dpmSolverTimesteps(
  spacing: TimestepSpacing,
  numInferenceSteps: number,
  numTrainTimesteps: number,
  lastTimestep: number,
  stepsOffset: number,
): number[] {
  checkSteps(numInferenceSteps, numTrainTimesteps);
  const n = numInferenceSteps;
  const grid = ((): number[] => {
    switch (spacing) {
      case "linspace":
        return linspace(0, lastTimestep - 1, n + 1)
          .map(roundHalfEven)
          .reverse()
          .slice(0, n);
      case "leading": {
        const ratio = Math.floor(lastTimestep / (n + 1));
        return Array.from({ length: n }, (_, i) => (n - i) * ratio + stepsOffset);
      }
      case "trailing":
        return arange(lastTimestep, 0, -numTrainTimesteps / n).map((t) => roundHalfEven(t) - 1);
    }
  })();
  return checkRange(grid, numTrainTimesteps, stepsOffset);
}

/**
 * Descending timesteps of `EulerAncestralDiscreteScheduler.set_timesteps`. They are float32 values (linspace
 * spacing gives fractional timesteps such as 957.375), so each is rounded to float32 as diffusers stores them.
 */
export function eulerTimesteps(
  spacing: TimestepSpacing,
  numInferenceSteps: number,
  numTrainTimesteps: number,
  stepsOffset: number,
): number[] {
  // Leading and trailing grids are integers below 2^24, which float32 holds exactly, so they are DDIM's
  // grids; only linspace keeps fractional values, rounded to float32 instead of to integers.
  if (spacing !== "linspace") {
    return discreteTimesteps(spacing, numInferenceSteps, numTrainTimesteps, stepsOffset);
  }
  checkSteps(numInferenceSteps, numTrainTimesteps);
  const grid = linspace(0, numTrainTimesteps - 1, numInferenceSteps)
    .map(Math.fround)
    .reverse();
  return checkRange(grid, numTrainTimesteps, stepsOffset);
}

/** The part of a plan an img2img run executes (see {@link timestepsForStrength}). */
export interface StrengthSchedule {
  /** Index into the full plan's timesteps of the first step to run. */
  readonly startIndex: number;
  /** Timesteps to run, `plan.timesteps.slice(startIndex)`; empty when strength is 0. */
  readonly timesteps: readonly number[];
  /** Number of denoising steps that will run (diffusers' second return value of `get_timesteps`). */
  readonly numInferenceSteps: number;
}

/**
 * diffusers' img2img `get_timesteps`: init_timestep = min(⌊n·strength⌋, n), t_start = max(n − init_timestep, 0),
 * and the run uses `timesteps[t_start·order:]`. Strength 0 leaves no step (the pipeline returns its input);
 * strength 1 runs the full plan from pure noise.
 */
export function timestepsForStrength(
  timesteps: readonly number[],
  numInferenceSteps: number,
  strength: number,
  order = 1,
): StrengthSchedule {
  if (typeof strength !== "number" || !(strength >= 0 && strength <= 1)) {
    throw new RangeError(`strength must be in [0, 1], got ${strength}`);
  }
  const initTimestep = Math.min(Math.trunc(numInferenceSteps * strength), numInferenceSteps);
  const tStart = Math.max(numInferenceSteps - initTimestep, 0);
  const startIndex = Math.min(tStart * order, timesteps.length);
  return Object.freeze({
    startIndex,
    timesteps: Object.freeze(timesteps.slice(startIndex)),
    numInferenceSteps: numInferenceSteps - tStart,
  });
}
