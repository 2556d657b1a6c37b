/**
 * Diffusion schedulers with diffusers semantics, as immutable values: a scheduler is a validated config;
 * `setTimesteps(n)` returns an immutable plan; `plan.step(state, …)` returns the next sample and the next
 * state. Nothing is mutated, so one scheduler or plan serves any number of concurrent requests.
 */
export {
  type BetaSchedule,
  type NoiseScheduleConfig,
  type PredictionType,
  parseDiffusersJson,
  SchedulerConfigError,
  SD15_SCHEDULER_CONFIG,
  type TimestepSpacing,
} from "./config.js";
export { DDIM_DEFAULTS, DDIMScheduler, type DdimConfig, DdimPlan } from "./ddim.js";
export {
  DDIM_INVERSE_DEFAULTS,
  DDIMInverseScheduler,
  type DdimInverseConfig,
  DdimInversePlan,
} from "./ddim-inverse.js";
export { DDPM_DEFAULTS, DDPMScheduler, type DdpmConfig, DdpmPlan, type DdpmVarianceType } from "./ddpm.js";
export {
  DPM_SOLVER_DEFAULTS,
  DPMSolverMultistepScheduler,
  type DpmSolverConfig,
  DpmSolverPlan,
  type DpmSolverState,
  type DpmSolverType,
} from "./dpm-solver-multistep.js";
export {
  EULER_ANCESTRAL_DEFAULTS,
  type EulerAncestralConfig,
  EulerAncestralDiscreteScheduler,
  EulerAncestralPlan,
} from "./euler-ancestral.js";
export { type AnyScheduler, SCHEDULERS, type SchedulerName, schedulerFromConfig } from "./from-config.js";
export { NoiseSchedule } from "./noise-schedule.js";
export type { PlanState, Scheduler, SchedulerPlan, SchedulerState, StepOptions, StepResult } from "./plan.js";
export { type StrengthSchedule, timestepsForStrength } from "./timesteps.js";
