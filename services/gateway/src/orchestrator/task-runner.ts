/**
 * The lease loop: claims runnable tasks up to a concurrency limit per kind, runs each through its
 * handler with an AbortSignal, heartbeats while it runs, and records the outcome. A lost lease
 * (reclaimed after this process stalled, or the job was cancelled or failed) aborts the handler and its
 * result is dropped. Expired leases of crashed replicas are reclaimed on an interval. Several runners
 * (in one or many gateway replicas) may share one database.
 */
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { AbortedTask, Task, TaskLease, TaskRepository } from "../store/index.js";
import { classifyError, type ErrorClassifier } from "./classify-error.js";

/** What a handler returns: the task's output, and for the job's sink task the job's result. */
interface TaskResult {
  output: unknown;
  jobResult?: unknown;
}

/** Runs one task. Must stop promptly (reject) when `signal` aborts. */
export type TaskHandler = (
  task: Task,
  context: { signal: AbortSignal; lease: TaskLease },
) => Promise<TaskResult>;

/** The store operations the runner needs (a fake in unit tests, the real repository otherwise). */
export type TaskStore = Pick<
  TaskRepository,
  "claim" | "heartbeat" | "complete" | "fail" | "release" | "reclaimExpired"
>;

/** Minimal logger (pino's methods). */
export interface RunnerLogger {
  info(object: object, message: string): void;
  warn(object: object, message: string): void;
  error(object: object, message: string): void;
}

/** Configuration of a {@link TaskRunner}. */
export interface TaskRunnerOptions {
  store: TaskStore;
  /** One handler per task kind; the runner claims only these kinds. */
  handlers: Readonly<Record<string, TaskHandler>>;
  /** Tasks of a kind run at once in this runner (default 1 per kind). */
  concurrency?: Readonly<Record<string, number>>;
  /** Unique per process; default `<hostname>:<pid>:<random>`. */
  owner?: string;
  /** Lease length (default 30 s). A task whose owner misses heartbeats this long is reclaimed. */
  leaseMs?: number;
  /** Heartbeat period (default leaseMs / 3, so two heartbeats may fail before the lease runs out). */
  heartbeatMs?: number;
  /** Idle poll period for new work (default 1 s); finishing a task polls at once. */
  pollMs?: number;
  /** Period of reclaiming expired leases (default leaseMs / 2). */
  reclaimMs?: number;
  classify?: ErrorClassifier;
  logger?: RunnerLogger;
}

/** Why a handler's signal was aborted. */
export type AbortReason = "lease_lost" | "cancelled" | "shutdown";

interface Run {
  task: Task;
  lease: TaskLease;
  controller: AbortController;
  /** Set once the outcome must not be recorded (lease lost, cancelled, handed back). */
  abandoned?: AbortReason;
  done: Promise<void>;
}

/** A default owner id: readable in psql, unique per process start. */
function defaultOwner(): string {
  return `${hostname()}:${process.pid}:${randomBytes(4).toString("hex")}`;
}

/** Claims and runs tasks until stopped. */
export class TaskRunner {
  readonly owner: string;
  readonly #store: TaskStore;
  readonly #handlers: Readonly<Record<string, TaskHandler>>;
  readonly #limits: Map<string, number>;
  readonly #leaseMs: number;
  readonly #heartbeatMs: number;
  readonly #pollMs: number;
  readonly #reclaimMs: number;
  readonly #classify: ErrorClassifier;
  readonly #log: RunnerLogger | undefined;
  readonly #runs = new Map<string, Run>();
  #timer: NodeJS.Timeout | undefined;
  #ticking: Promise<void> | undefined;
  #again = false;
  #lastReclaim = 0;
  #stopped = true;

  constructor(options: TaskRunnerOptions) {
    this.owner = options.owner ?? defaultOwner();
    this.#store = options.store;
    this.#handlers = options.handlers;
    this.#limits = new Map(
      Object.keys(options.handlers).map((kind) => [kind, options.concurrency?.[kind] ?? 1]),
    );
    this.#leaseMs = options.leaseMs ?? 30_000;
    this.#heartbeatMs = options.heartbeatMs ?? Math.max(1, Math.floor(this.#leaseMs / 3));
    this.#pollMs = options.pollMs ?? 1_000;
    this.#reclaimMs = options.reclaimMs ?? Math.max(1, Math.floor(this.#leaseMs / 2));
    this.#classify = options.classify ?? classifyError;
    this.#log = options.logger;
    if (this.#heartbeatMs >= this.#leaseMs) throw new Error("heartbeatMs must be shorter than leaseMs");
  }

  /** Starts polling. */
  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#wake();
  }

  /** Tasks running in this runner, by kind. */
  running(): Record<string, number> {
    const counts: Record<string, number> = Object.fromEntries([...this.#limits.keys()].map((k) => [k, 0]));
    for (const run of this.#runs.values()) counts[run.task.kind] = (counts[run.task.kind] ?? 0) + 1;
    return counts;
  }

  /**
   * Aborts the local runs among `tasks` (what `jobs.cancel` or a final failure returned); runs held by
   * other owners are left to their own heartbeats.
   */
  abort(tasks: readonly AbortedTask[], reason: AbortReason = "cancelled"): void {
    for (const aborted of tasks) {
      const run = this.#runs.get(aborted.taskId);
      if (
        run === undefined ||
        run.lease.owner !== aborted.lease.owner ||
        run.lease.attempt !== aborted.lease.attempt
      ) {
        continue;
      }
      this.#abandon(run, reason);
    }
  }

  /**
   * Stops claiming, lets running tasks finish for up to `drainMs`, then aborts the rest and hands their
   * leases back (`release`: pending again, attempt refunded) so another replica takes them at once.
   */
  async stop(options: { drainMs?: number } = {}): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#ticking;
    const drained = Promise.all([...this.#runs.values()].map((run) => run.done));
    let timeout: NodeJS.Timeout | undefined;
    await Promise.race([
      drained,
      new Promise((resolve) => (timeout = setTimeout(resolve, options.drainMs ?? 0))),
    ]);
    clearTimeout(timeout);
    const left = [...this.#runs.values()];
    for (const run of left) this.#abandon(run, "shutdown");
    await Promise.all(
      left.map(async (run) => {
        try {
          await this.#store.release(run.lease);
        } catch (error) {
          this.#log?.warn({ err: error, taskId: run.task.id }, "could not hand back a lease; it will expire");
        }
      }),
    );
    await Promise.all(left.map((run) => run.done));
  }

  #wake(): void {
    if (this.#stopped) return;
    if (this.#ticking !== undefined) {
      this.#again = true;
      return;
    }
    clearTimeout(this.#timer);
    this.#ticking = this.#tick().finally(() => {
      this.#ticking = undefined;
      if (this.#stopped) return;
      if (this.#again) {
        this.#again = false;
        this.#wake();
      } else {
        this.#timer = setTimeout(() => this.#wake(), this.#pollMs);
      }
    });
  }

  async #tick(): Promise<void> {
    try {
      if (Date.now() - this.#lastReclaim >= this.#reclaimMs) {
        this.#lastReclaim = Date.now();
        const reclaimed = await this.#store.reclaimExpired();
        if (reclaimed.requeued.length + reclaimed.failed.length > 0) {
          this.#log?.warn(
            { requeued: reclaimed.requeued, failed: reclaimed.failed },
            "reclaimed expired leases",
          );
        }
        this.abort(reclaimed.abort, "cancelled");
      }
      const running = this.running();
      for (const [kind, limit] of this.#limits) {
        const free = limit - (running[kind] ?? 0);
        if (free <= 0 || this.#stopped) continue;
        for (const claimed of await this.#store.claim(this.owner, free, this.#leaseMs, [kind])) {
          this.#start(claimed.task, claimed.lease);
        }
      }
    } catch (error) {
      this.#log?.error({ err: error }, "task poll failed; retrying at the next poll");
    }
  }

  #start(task: Task, lease: TaskLease): void {
    const controller = new AbortController();
    const run: Run = { task, lease, controller, done: Promise.resolve() };
    this.#runs.set(task.id, run);
    run.done = this.#execute(run).finally(() => {
      this.#runs.delete(task.id);
      this.#wake();
    });
  }

  async #execute(run: Run): Promise<void> {
    const { task, lease, controller } = run;
    const stopHeartbeat = this.#heartbeat(run);
    let result: TaskResult | undefined;
    let failure: unknown;
    try {
      result = await this.#handlers[task.kind](task, { signal: controller.signal, lease });
    } catch (error) {
      failure = error;
    } finally {
      stopHeartbeat();
    }
    if (run.abandoned !== undefined) {
      this.#log?.info({ taskId: task.id, key: task.key, reason: run.abandoned }, "task abandoned");
      return;
    }
    try {
      if (result !== undefined) {
        const outcome = await this.#store.complete(lease, result.output, { jobResult: result.jobResult });
        if (outcome.outcome === "lease_lost")
          this.#log?.warn({ taskId: task.id }, "lease lost; result dropped");
        return;
      }
      const classified = this.#classify(failure);
      const outcome = await this.#store.fail(lease, classified.error, { retryable: classified.retryable });
      // The log keeps the raw error (addresses included); the store got the scrubbed one.
      this.#log?.warn(
        { taskId: task.id, key: task.key, ...classified, err: failure, outcome: outcome.outcome },
        "task failed",
      );
      if (outcome.outcome === "failed") this.abort(outcome.abort, "cancelled");
    } catch (error) {
      // The database is unreachable: the lease will expire and the task will run again elsewhere.
      this.#log?.error({ err: error, taskId: task.id }, "could not record a task outcome");
    }
  }

  /** Heartbeats every heartbeatMs until stopped; a lost lease aborts the run. */
  #heartbeat(run: Run): () => void {
    let inFlight = false;
    const timer = setInterval(async () => {
      if (inFlight || run.abandoned !== undefined) return;
      inFlight = true;
      try {
        if (!(await this.#store.heartbeat(run.lease, this.#leaseMs))) this.#abandon(run, "lease_lost");
      } catch (error) {
        // A database hiccup: keep running; if it lasts past the lease, the next heartbeat reports the loss.
        this.#log?.warn({ err: error, taskId: run.task.id }, "heartbeat failed");
      } finally {
        inFlight = false;
      }
    }, this.#heartbeatMs);
    return () => clearInterval(timer);
  }

  #abandon(run: Run, reason: AbortReason): void {
    if (run.abandoned !== undefined) return;
    run.abandoned = reason;
    run.controller.abort(reason);
  }
}
