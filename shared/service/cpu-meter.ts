/**
 * CPU accounting per call: how many CPU seconds (user + system, every thread of the process: the JS
 * thread, worker threads and onnxruntime's pools) a unit of work cost.
 *
 * The only CPU clock Node has is the process's (`process.cpuUsage()`), so calls that overlap in one
 * process cannot be told apart. The meter splits the process's CPU evenly between the spans open at
 * the time: at every span start and stop it reads the clock and gives each open span an equal share of
 * what was spent since the last reading. A span that ran alone gets exactly the process's CPU over its
 * lifetime; overlapping spans get an even split, and the shares always add up to what the process
 * spent while any span was open. CPU spent while no span is open (idle health checks, GC between
 * calls) is attributed to nobody.
 *
 * Open a span only once the work holds its slot (after the service's limiter): a span waiting for its
 * turn would take a share of the running call's CPU.
 */

/** A CPU clock reading in microseconds, as `process.cpuUsage()` returns it. */
export interface CpuReading {
  readonly user: number;
  readonly system: number;
}

/** One unit of work being measured. */
export interface CpuSpan {
  /** CPU seconds attributed so far (the span stays open). */
  seconds(): number;
  /** Closes the span and returns its CPU seconds; later calls return the same value. */
  stop(): number;
}

/** Splits the process's CPU time among the spans open at once. */
export interface CpuMeter {
  /** Opens a span now. */
  start(): CpuSpan;
  /** Spans open now. */
  readonly open: number;
}

/** A meter over `read` (default: `process.cpuUsage`). */
export function createCpuMeter(read: () => CpuReading = () => process.cpuUsage()): CpuMeter {
  const open = new Set<{ micros: number }>();
  let last = total(read());

  /** Shares what was spent since the last reading among the open spans. */
  const settle = () => {
    const now = total(read());
    const spent = Math.max(0, now - last);
    last = now;
    if (open.size === 0) return;
    const share = spent / open.size;
    for (const span of open) span.micros += share;
  };

  return {
    get open() {
      return open.size;
    },
    start() {
      settle();
      const state = { micros: 0 };
      open.add(state);
      let stopped: number | undefined;
      return {
        seconds() {
          if (stopped !== undefined) return stopped;
          settle();
          return state.micros / 1e6;
        },
        stop() {
          if (stopped !== undefined) return stopped;
          settle();
          open.delete(state);
          stopped = state.micros / 1e6;
          return stopped;
        },
      };
    },
  };
}

function total(reading: CpuReading): number {
  return reading.user + reading.system;
}

/** The meter of this process: every service measures its calls with it, so overlapping calls share. */
export const processCpu: CpuMeter = createCpuMeter();
