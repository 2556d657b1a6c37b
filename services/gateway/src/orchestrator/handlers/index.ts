/** The task handlers, one per kind of the planner's DAG. */
import type { TaskKind } from "../planner.js";
import type { TaskHandler } from "../task-runner.js";
import { type HandlerDeps, JobLoader } from "./context.js";
import { evaluateHandler } from "./evaluate.js";
import { finetuneHandler } from "./finetune.js";
import { generateHandler } from "./generate.js";
import { selectHandler } from "./select.js";
import { summarizeHandler } from "./summarize.js";
import { trainHandler } from "./train.js";

export type { HandlerDeps } from "./context.js";
export type { FinetuneOutput } from "./finetune.js";
export {
  type JobResult,
  summarize,
} from "./summarize.js";
export type { TrainOutput } from "./train.js";

/** Every handler, sharing one job loader. */
export function createTaskHandlers(deps: HandlerDeps): Record<TaskKind, TaskHandler> {
  const loader = new JobLoader(deps);
  return {
    finetune: finetuneHandler(deps, loader),
    generate: generateHandler(deps, loader),
    train: trainHandler(deps, loader),
    evaluate: evaluateHandler(deps, loader),
    select: selectHandler(loader),
    summarize: summarizeHandler(deps, loader),
  };
}
