/**
 * The orchestrator of one gateway process: the TaskRunner's lease loop over the planner's task kinds,
 * with handlers that call the compute services, metrics around every task (stage durations, jobs that
 * reach a final state), and the abort hook the REST layer calls on cancel.
 */
import type { GatewayMetrics } from "../plugins/metrics.js";
import type { AbortedTask, TaskRepository } from "../store/index.js";
import { createTaskHandlers, type HandlerDeps } from "./handlers/index.js";
import type { TaskKind } from "./planner.js";
import { type RunnerLogger, type TaskHandler, TaskRunner, type TaskStore } from "./task-runner.js";

/** Options of {@link createOrchestrator}. */
export interface OrchestratorOptions extends HandlerDeps {
  /** Tasks of a kind run at once in this process. Default: generate 2 per replica, others 1. */
  concurrency?: Partial<Record<TaskKind, number>>;
  leaseMs?: number;
  pollMs?: number;
  owner?: string;
  logger?: RunnerLogger;
}

/** A started-or-not orchestrator. */
export interface Orchestrator {
  readonly runner: TaskRunner;
  start(): void;
  /** Aborts local runs of cancelled tasks (the REST layer's cancel). */
  abort(tasks: readonly AbortedTask[]): void;
  /** Stops claiming, lets tasks finish for `drainMs`, hands back the rest. */
  stop(drainMs: number): Promise<void>;
}

/** Counts jobs that reach a final state through this process's task outcomes. */
function instrumentTaskStore(tasks: TaskStore, metrics: GatewayMetrics | undefined): TaskStore {
  if (metrics === undefined) return tasks;
  return {
    claim: (...args) => tasks.claim(...args),
    heartbeat: (...args) => tasks.heartbeat(...args),
    release: (...args) => tasks.release(...args),
    async complete(...args) {
      const outcome = await tasks.complete(...args);
      if (outcome.outcome === "succeeded" && outcome.jobState === "succeeded") {
        metrics.jobsFinished.inc({ outcome: "succeeded" });
      }
      return outcome;
    },
    async fail(...args) {
      const outcome = await tasks.fail(...args);
      if (outcome.outcome === "failed" && outcome.jobState === "failed")
        metrics.jobsFinished.inc({ outcome: "failed" });
      return outcome;
    },
    async reclaimExpired(...args) {
      const result = await tasks.reclaimExpired(...args);
      if (result.failed.length > 0) metrics.jobsFinished.inc({ outcome: "failed" }, result.failed.length);
      return result;
    },
  };
}

/** Times each task into `diffda_job_stage_duration_seconds{kind, outcome}`. */
function timedHandler(kind: string, handler: TaskHandler, metrics: GatewayMetrics | undefined): TaskHandler {
  if (metrics === undefined) return handler;
  return async (task, context) => {
    const end = metrics.stageDuration.startTimer({ kind });
    try {
      const result = await handler(task, context);
      end({ outcome: "succeeded" });
      return result;
    } catch (error) {
      end({ outcome: context.signal.aborted ? "aborted" : "failed" });
      throw error;
    }
  };
}

/** Builds the orchestrator (call `start()`). */
export function createOrchestrator(options: OrchestratorOptions & { tasks: TaskRepository }): Orchestrator {
  const handlers = createTaskHandlers(options);
  const timed = Object.fromEntries(
    Object.entries(handlers).map(([kind, handler]) => [kind, timedHandler(kind, handler, options.metrics)]),
  );
  const runner = new TaskRunner({
    store: instrumentTaskStore(options.tasks, options.metrics),
    handlers: timed,
    concurrency: {
      finetune: 1,
      generate: 2 * options.clients.generation.size,
      train: 1,
      evaluate: 2,
      select: 1,
      summarize: 2,
      ...options.concurrency,
    },
    ...(options.leaseMs !== undefined ? { leaseMs: options.leaseMs } : {}),
    ...(options.pollMs !== undefined ? { pollMs: options.pollMs } : {}),
    ...(options.owner !== undefined ? { owner: options.owner } : {}),
    ...(options.logger !== undefined ? { logger: options.logger } : {}),
  });
  return {
    runner,
    start: () => runner.start(),
    abort: (tasks) => runner.abort(tasks),
    stop: (drainMs) => runner.stop({ drainMs }),
  };
}
