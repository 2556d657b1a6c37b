import { SchedulerConfigError } from "./config.js";
import { DDIMScheduler } from "./ddim.js";
import { DDIMInverseScheduler } from "./ddim-inverse.js";
import { DDPMScheduler } from "./ddpm.js";
import { DPMSolverMultistepScheduler } from "./dpm-solver-multistep.js";
import { EulerAncestralDiscreteScheduler } from "./euler-ancestral.js";

/** The schedulers implemented here, by their diffusers class names. */
export const SCHEDULERS = Object.freeze({
  DDPMScheduler,
  DDIMScheduler,
  DDIMInverseScheduler,
  DPMSolverMultistepScheduler,
  EulerAncestralDiscreteScheduler,
});

/** A diffusers scheduler class name implemented here. */
export type SchedulerName = keyof typeof SCHEDULERS;

/** Any scheduler implemented here. */
export type AnyScheduler = InstanceType<(typeof SCHEDULERS)[SchedulerName]>;

/**
 * Builds a scheduler from a diffusers `scheduler_config.json` object. With `name`, the config is reused for
 * that scheduler whatever its `_class_name` (diffusers' `Scheduler.from_config(pipe.scheduler.config)`,
 * e.g. DPM-Solver++ from Stable Diffusion's PNDM config); without it, `_class_name` must name a scheduler
 * implemented here.
 */
export function schedulerFromConfig<N extends SchedulerName>(
  json: unknown,
  name: N,
): InstanceType<(typeof SCHEDULERS)[N]>;
export function schedulerFromConfig(json: unknown): AnyScheduler;
export function schedulerFromConfig(json: unknown, name?: SchedulerName): AnyScheduler {
  let className: unknown = name;
  if (className === undefined) {
    if (typeof json !== "object" || json === null)
      throw new SchedulerConfigError("scheduler config must be an object");
    className = (json as Record<string, unknown>)["_class_name"];
  }
  if (typeof className !== "string" || !Object.hasOwn(SCHEDULERS, className)) {
    throw new SchedulerConfigError(
      `scheduler ${JSON.stringify(className)} is not implemented; pass one of ${Object.keys(SCHEDULERS).join(", ")} to reuse this config`,
    );
  }
  return SCHEDULERS[className as SchedulerName].fromConfig(json);
}
