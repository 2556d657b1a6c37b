import { createHash } from "node:crypto";
import type { Graph } from "../graph/ir.js";
import { type ToModelOptions, toModel } from "../graph/model.js";
import { encodeModel } from "../onnx/encode.js";
import { InProcessRunner, type Runner, WorkerRunner } from "./runner.js";
import type { SessionConfig } from "./session.js";

export interface SessionCacheOptions {
  /** Most sessions kept open; the least recently used is released beyond this (default 8). */
  maxEntries?: number;
  /** Run sessions in worker threads (default true). */
  worker?: boolean;
  /** Defaults for every session (threads, optimization level). */
  config?: SessionConfig;
}

/**
 * Open sessions keyed by (model hash, fixed dims): the same graph at another batch shape gets its own
 * session with those dims fixed, so onnxruntime plans memory for it. Least recently used sessions are
 * released. Concurrent requests for one key share one session creation.
 */
export class SessionCache {
  readonly #entries = new Map<string, Promise<Runner>>();
  readonly #max: number;
  readonly #worker: boolean;
  readonly #config: SessionConfig;

  constructor(options: SessionCacheOptions = {}) {
    this.#max = options.maxEntries ?? 8;
    this.#worker = options.worker ?? true;
    this.#config = options.config ?? {};
  }

  /** Number of open (or opening) sessions. */
  get size(): number {
    return this.#entries.size;
  }

  /** The cache key of a model at some dims. */
  static key(model: Uint8Array, dims: Record<string, number> = {}): string {
    const hash = createHash("sha256").update(model).digest("hex");
    const shape = Object.entries(dims)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([k, v]) => `${k}=${v}`)
      .join(",");
    return `${hash}|${shape}`;
  }

  /** The runner for `model` with symbolic dims fixed to `dims`, opening it if needed. */
  get(
    model: Graph | Uint8Array,
    dims: Record<string, number> = {},
    modelOptions: ToModelOptions = {},
  ): Promise<Runner> {
    const bytes = model instanceof Uint8Array ? model : encodeModel(toModel(model, modelOptions));
    const key = SessionCache.key(bytes, dims);
    const hit = this.#entries.get(key);
    if (hit) {
      this.#entries.delete(key);
      this.#entries.set(key, hit);
      return hit;
    }
    const config: SessionConfig = { ...this.#config, dims: { ...this.#config.dims, ...dims } };
    const opening = this.#worker ? WorkerRunner.create(bytes, config) : InProcessRunner.create(bytes, config);
    this.#entries.set(key, opening);
    opening.catch(() => {
      if (this.#entries.get(key) === opening) this.#entries.delete(key);
    });
    while (this.#entries.size > this.#max) {
      const [oldest, runner] = this.#entries.entries().next().value as [string, Promise<Runner>];
      this.#entries.delete(oldest);
      runner.then((r) => r.release()).catch(() => {});
    }
    return opening;
  }

  /** Releases every session. */
  async clear(): Promise<void> {
    const all = [...this.#entries.values()];
    this.#entries.clear();
    await Promise.all(all.map((p) => p.then((r) => r.release()).catch(() => {})));
  }
}
