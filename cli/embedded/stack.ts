/**
 * A supervised set of processes: started together, each awaited until its probe says ready (or it exits,
 * or the timeout passes: then everything started is stopped again and the error names the process and
 * the tail of its log), watched for unexpected exits while running, and stopped tier by tier — higher
 * tiers first (the gateway stops dispatching before the services it calls go away), one tier in
 * parallel. A process that outlives its grace period after SIGTERM is killed; if this process exits
 * anyway, every child still running is killed with it.
 */
import { type ManagedProcess, type ProcessSpec, startProcess } from "./child-process.js";
import { type Probe, waitUntilReady } from "./health.js";

/** One process of a stack. */
export interface StackUnit {
  readonly spec: ProcessSpec;
  /** Readiness probe. */
  readonly probe: Probe;
  /** Stop order: higher tiers stop first (default 0). */
  readonly tier?: number;
  /** What to print once ready, e.g. its address. */
  readonly describe?: string;
}

/** Options of {@link startStack}. */
export interface StackOptions {
  /** Per process (default 300 s: the services load their models first). */
  readonly readyTimeoutMs?: number;
  /** SIGTERM → SIGKILL grace per process (default 15 s). */
  readonly graceMs?: number;
  /** Progress lines ("generation ready …"). */
  readonly onStatus?: (line: string) => void;
  readonly signal?: AbortSignal;
}

/** A running stack. */
export interface RunningStack {
  readonly processes: readonly ManagedProcess[];
  /** Resolves with a message when a process exits while the stack runs (not during `stop`). */
  readonly failed: Promise<string>;
  /** Stops every process (idempotent); resolves once all have exited. */
  stop(): Promise<StopReport[]>;
}

/** How one process stopped. */
interface StopReport {
  readonly name: string;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** It had to be killed after the grace period. */
  readonly killed: boolean;
}

function describeExit(
  p: ManagedProcess,
  status: { code: number | null; signal: NodeJS.Signals | null },
): string {
  const how = status.signal ? `signal ${status.signal}` : `code ${status.code}`;
  const tail = p.tail(12).join("\n    ");
  return `${p.name} exited (${how}); log ${p.logFile}${tail ? `:\n    ${tail}` : ""}`;
}

/** Starts `units` and waits until every one is ready. */
export async function startStack(
  units: readonly StackUnit[],
  options: StackOptions = {},
): Promise<RunningStack> {
  const graceMs = options.graceMs ?? 15_000;
  const processes = units.map((unit) => startProcess(unit.spec));
  let stopping = false;
  const killAll = () => {
    for (const p of processes) {
      if (p.running && p.pid > 0) {
        try {
          process.kill(p.pid, "SIGKILL");
        } catch {
          // already gone
        }
      }
    }
  };
  process.on("exit", killAll);

  let stopped: Promise<StopReport[]> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      stopping = true;
      const tiers = [...new Set(units.map((u) => u.tier ?? 0))].sort((a, b) => b - a);
      const reports: StopReport[] = [];
      for (const tier of tiers) {
        const mine = processes.filter((_, i) => (units[i].tier ?? 0) === tier);
        const done = await Promise.all(mine.map((p) => p.stop(graceMs)));
        done.forEach((status, i) => {
          reports.push({ name: mine[i].name, ...status });
        });
      }
      process.off("exit", killAll);
      return reports;
    })();
    return stopped;
  };

  const failed = new Promise<string>((resolve) => {
    for (const p of processes) {
      void p.exited.then((status) => {
        if (!stopping) resolve(describeExit(p, status));
      });
    }
  });

  try {
    await Promise.all(
      units.map(async (unit, i) => {
        const p = processes[i];
        const started = Date.now();
        await waitUntilReady(unit.probe, {
          timeoutMs: options.readyTimeoutMs ?? 300_000,
          giveUp: p.exited.then((status) => describeExit(p, status)),
          signal: options.signal,
        }).catch((error: Error) => {
          throw new Error(
            error.message.startsWith(p.name)
              ? error.message
              : `${p.name}: ${error.message}; log ${p.logFile}:\n    ${p.tail(12).join("\n    ")}`,
          );
        });
        options.onStatus?.(
          `${p.name.padEnd(11)} ready in ${((Date.now() - started) / 1000).toFixed(1)} s${unit.describe ? ` — ${unit.describe}` : ""}`,
        );
      }),
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return { processes, failed, stop };
}
