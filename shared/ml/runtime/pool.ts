import { createHash } from "node:crypto";
import { openRunner, type Runner } from "./runner.js";
import type { SessionConfig } from "./session.js";

/** Options of a {@link RunnerPool}. */
export interface RunnerPoolOptions {
  /** Idle runners kept open over all models; the least recently returned is released beyond this (default 8). */
  readonly maxIdle?: number;
  /** Open sessions in worker threads (default true), so the event loop stays free while they compute. */
  readonly worker?: boolean;
  /**
   * Release a runner idle this long (default: never). A service sets it so that a burst of work does not
   * leave its sessions' memory arenas resident for the rest of the process's life.
   */
  readonly idleMs?: number;
  /** Called with the wall seconds of each session opened (a service counts them as a phase). */
  readonly onOpen?: (seconds: number) => void;
}

/** A runner borrowed from a pool: use it alone, then give it back once. */
export interface RunnerLease {
  readonly runner: Runner;
  /** Whether the session was already open (false: this lease opened it). */
  readonly reused: boolean;
  /** Returns the runner to the pool; `{ discard: true }` releases it instead (it may be broken). */
  release(options?: { discard?: boolean }): Promise<void>;
}

interface Idle {
  readonly key: string;
  readonly runner: Runner;
  timer?: NodeJS.Timeout;
}

/** Closes an idle runner taken out of the pool (its idle timer goes with it). */
function closeIdle(entry: Idle): Promise<void> {
  clearTimeout(entry.timer);
  return entry.runner.release();
}

/**
 * Open onnxruntime sessions shared across runs: opening a session (and the worker thread it runs in) costs
 * 0.1–0.5 s of CPU, more than a few-shot training epoch, so a service keeps them and lends them out. A
 * session is keyed by its model bytes and session settings; each lease has its runner to itself (two
 * trainings of the same shape get two sessions, which run side by side on their own threads). Models that
 * take their weights as inputs (training graphs, the classifier's forward graph) are the same bytes for
 * every run of a shape, which is what makes them shareable.
 */
export class RunnerPool {
  readonly #idle: Idle[] = [];
  readonly #hashes = new WeakMap<Uint8Array, string>();
  readonly #maxIdle: number;
  readonly #worker: boolean;
  readonly #onOpen: ((seconds: number) => void) | undefined;
  readonly #idleMs: number | undefined;
  #opened = 0;
  #closed = false;

  constructor(options: RunnerPoolOptions = {}) {
    this.#maxIdle = options.maxIdle ?? 8;
    this.#worker = options.worker ?? true;
    this.#onOpen = options.onOpen;
    this.#idleMs = options.idleMs;
  }

  /** Sessions opened so far (reuse shows as leases that did not add to it). */
  get opened(): number {
    return this.#opened;
  }

  /** Idle sessions kept open now. */
  get idle(): number {
    return this.#idle.length;
  }

  #key(model: Uint8Array, config: SessionConfig): string {
    let hash = this.#hashes.get(model);
    if (hash === undefined) {
      hash = createHash("sha256").update(model).digest("hex");
      this.#hashes.set(model, hash);
    }
    return `${hash}|${JSON.stringify(config, Object.keys(config).sort())}`;
  }

  /** Borrows a runner for `model` opened with `config`: an idle one if there is one, else a new one. */
  async lease(model: Uint8Array, config: SessionConfig = {}): Promise<RunnerLease> {
    if (this.#closed) throw new Error("runner pool closed");
    const key = this.#key(model, config);
    const at = this.#idle.findLastIndex((entry) => entry.key === key);
    let runner: Runner;
    let reused = false;
    if (at >= 0) {
      const entry = this.#idle.splice(at, 1)[0];
      clearTimeout(entry.timer);
      runner = entry.runner;
      reused = true;
    } else {
      const started = performance.now();
      runner = await openRunner(model, config, this.#worker);
      this.#opened++;
      this.#onOpen?.((performance.now() - started) / 1000);
    }
    let returned = false;
    return {
      runner,
      reused,
      release: async (options = {}) => {
        if (returned) return;
        returned = true;
        if (options.discard || this.#closed) return runner.release();
        const entry: Idle = { key, runner };
        if (this.#idleMs !== undefined) {
          entry.timer = setTimeout(() => {
            const i = this.#idle.indexOf(entry);
            if (i >= 0)
              void this.#idle
                .splice(i, 1)[0]
                .runner.release()
                .catch(() => {});
          }, this.#idleMs);
          entry.timer.unref();
        }
        this.#idle.push(entry);
        const evicted = this.#idle.splice(0, Math.max(0, this.#idle.length - this.#maxIdle));
        await Promise.all(evicted.map(closeIdle));
      },
    };
  }

  /** Releases every idle runner; runners out on lease are released when they come back. */
  async close(): Promise<void> {
    this.#closed = true;
    const all = this.#idle.splice(0);
    await Promise.all(all.map(closeIdle));
  }
}

/**
 * A runner for `model`: borrowed from `pool` when there is one, else opened for the caller alone (in a
 * worker thread unless `worker` is false) and closed on `release`.
 */
export async function leaseRunner(
  model: Uint8Array,
  config: SessionConfig,
  options: { readonly pool?: RunnerPool; readonly worker?: boolean },
): Promise<RunnerLease> {
  if (options.pool) return options.pool.lease(model, config);
  const runner = await openRunner(model, config, options.worker ?? true);
  return { runner, reused: false, release: () => runner.release() };
}
