/** Running graphs on onnxruntime-node: sessions, worker-thread runners, a pool of open sessions, the trainer. */
export { leaseRunner, type RunnerLease, RunnerPool, type RunnerPoolOptions } from "./pool.js";
export { InProcessRunner, type Runner, type RunOptions, transferables, WorkerRunner } from "./runner.js";
export {
  createSession,
  type RuntimeSettings,
  runSession,
  runtimeSettings,
  type SessionConfig,
  sessionOptions,
} from "./session.js";
export { dataTypeOf, fromOrt, ortType, toOrt } from "./tensor.js";
export { type StepResult, Trainer, type TrainerOptions } from "./trainer.js";
