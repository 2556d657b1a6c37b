/** The orchestrator's lease loop: claim, run, heartbeat, record, reclaim. */
export {
  type ClassifiedError,
  classifyError,
  type ErrorClassifier,
  RETRYABLE_GRPC_CODES,
} from "./classify-error.js";
export {
  type AbortReason,
  defaultOwner,
  type RunnerLogger,
  type TaskHandler,
  type TaskResult,
  TaskRunner,
  type TaskRunnerOptions,
  type TaskStore,
} from "./task-runner.js";
