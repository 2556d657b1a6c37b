/**
 * The generation service: GenerationService.GenerateShard over every DiffDA generation method, with the
 * diffusion engine in a worker thread. `main.ts` is the process; the rest is usable in-process (tests,
 * benchmarks).
 */

export { renderFractals } from "../../../shared/generation-modes/instruct-edit/fractals.js";
export { flipHorizontal, rotate } from "../../../shared/generation-modes/transforms.js";
export { GENERATION_ENV, GENERATION_PORTS } from "./config.js";
export { findClipFolder, loadClipScorerFolder } from "./engine/clip.js";
export { LocalEngine, type LocalEngineOptions } from "./engine/local.js";
export type {
  AdapterFile,
  EngineBatch,
  EngineImage,
  EngineMethod,
  EngineSample,
  GenerateOptions,
  GenerationEngine,
  ModelInfo,
  ModelLease,
  ModelSpec,
} from "./engine/types.js";
export { WorkerEngine } from "./engine/worker-engine.js";
export { generationHandlers, toResponse } from "./handler.js";
export { createGenerationMetrics, type GenerationMetrics } from "./metrics.js";
export { PLAN_PURPOSE, type PlannedSample, SamplePlanner } from "./planner.js";
export {
  DEFAULT_TEMPLATE,
  SCHEDULER_NAMES,
  type ShardLimits,
  type ShardRequest,
  validateShardRequest,
} from "./request.js";
export { createEngine, setupGeneration } from "./service.js";
export { generateShard, type ShardDeps, type ShardEvent } from "./shard.js";
