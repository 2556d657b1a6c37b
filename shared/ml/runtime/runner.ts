import { extname } from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import type * as ort from "onnxruntime-node";
import type { Tensor } from "../onnx/tensor.js";
import { createSession, runSession, type SessionConfig } from "./session.js";

/** Runs one model. Implementations: in the calling thread, or in a worker thread. */
export interface Runner {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /**
   * Runs the model. With `transfer` (true, or the names of some feeds), those feeds' buffers move to the
   * runner (zero-copy into a worker) and must not be used by the caller afterwards.
   */
  run(feeds: Record<string, Tensor>, options?: RunOptions): Promise<Record<string, Tensor>>;
  release(): Promise<void>;
}

export interface RunOptions {
  /** Outputs to compute (default: all). */
  fetches?: string[];
  /** Move these feeds' buffers instead of copying them (true: all feeds). */
  transfer?: boolean | string[];
  /**
   * Other feeds may be views into the moved buffers (they travel with them). Without it, a partial view
   * among the moved feeds is copied first so no memory beyond it is detached.
   */
  shareViews?: boolean;
}

/** A runner on the calling thread (tests, tools); `run` blocks the event loop while onnxruntime computes. */
export class InProcessRunner implements Runner {
  readonly #session: ort.InferenceSession;

  private constructor(session: ort.InferenceSession) {
    this.#session = session;
  }

  static async create(model: Uint8Array, config: SessionConfig = {}): Promise<InProcessRunner> {
    return new InProcessRunner(await createSession(model, config));
  }

  get inputNames(): readonly string[] {
    return this.#session.inputNames;
  }

  get outputNames(): readonly string[] {
    return this.#session.outputNames;
  }

  run(feeds: Record<string, Tensor>, options: RunOptions = {}): Promise<Record<string, Tensor>> {
    return runSession(this.#session, feeds, options.fetches);
  }

  release(): Promise<void> {
    return this.#session.release();
  }
}

/** Messages between WorkerRunner and its worker. */
export type WorkerRequest =
  | { type: "run"; id: number; feeds: Record<string, Tensor>; fetches?: string[] }
  | { type: "close" };
export type WorkerReply =
  | { type: "ready"; inputNames: string[]; outputNames: string[] }
  | { type: "result"; id: number; outputs: Record<string, Tensor> }
  | { type: "error"; id: number; message: string };

/**
 * Buffers to transfer for the named tensors (default all). Without `shareViews`, views of part of a buffer,
 * or of a buffer already moving, are copied first so nothing else is detached; with it, the whole buffers
 * move and every view into them travels along.
 */
export function transferables(
  tensors: Record<string, Tensor>,
  names: string[] = Object.keys(tensors),
  shareViews = false,
): ArrayBuffer[] {
  const seen = new Set<ArrayBuffer>();
  for (const name of names) {
    const t = tensors[name];
    if (!t) continue;
    const buf = t.data.buffer as ArrayBuffer;
    const partial = t.data.byteOffset !== 0 || t.data.byteLength !== buf.byteLength;
    if (!shareViews && (partial || seen.has(buf))) {
      tensors[name] = { ...t, data: t.data.slice() };
    }
    seen.add(tensors[name].data.buffer as ArrayBuffer);
  }
  return [...seen];
}

const workerFile = new URL(`./worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url);

/**
 * Starts the worker script. Running from TypeScript sources (tsx), Node 20 does not apply `--import tsx`
 * to a worker's entry module, so a small bootstrap registers tsx in the worker first.
 */
function spawnWorker(workerData: unknown): Worker {
  if (!workerFile.pathname.endsWith(".ts")) return new Worker(workerFile, { workerData });
  const tsx = import.meta.resolve("tsx/esm/api");
  const bootstrap = `import(${JSON.stringify(tsx)}).then((api) => { api.register(); return import(${JSON.stringify(workerFile.href)}); })`;
  return new Worker(bootstrap, { eval: true, workerData });
}

/**
 * Runs onnxruntime in a worker thread so the event loop stays free while a model computes. Requests are
 * queued in the worker and answered in order.
 */
export class WorkerRunner implements Runner {
  readonly #worker: Worker;
  readonly #pending = new Map<
    number,
    { resolve: (o: Record<string, Tensor>) => void; reject: (e: Error) => void }
  >();
  #next = 0;
  #closed = false;
  inputNames: readonly string[] = [];
  outputNames: readonly string[] = [];

  private constructor(worker: Worker) {
    this.#worker = worker;
  }

  static create(model: Uint8Array, config: SessionConfig = {}): Promise<WorkerRunner> {
    const worker = spawnWorker({ model, config });
    const runner = new WorkerRunner(worker);
    return new Promise((resolve, reject) => {
      const fail = (e: Error) => {
        runner.#failAll(e);
        reject(e);
      };
      worker.once("error", fail);
      worker.on("message", (msg: WorkerReply) => {
        if (msg.type === "ready") {
          runner.inputNames = msg.inputNames;
          runner.outputNames = msg.outputNames;
          worker.off("error", fail);
          worker.on("error", (e) => runner.#failAll(e));
          resolve(runner);
        } else if (msg.type === "result") {
          runner.#pending.get(msg.id)?.resolve(msg.outputs);
          runner.#pending.delete(msg.id);
        } else if (msg.type === "error") {
          const err = new Error(msg.message);
          if (msg.id < 0) fail(err);
          runner.#pending.get(msg.id)?.reject(err);
          runner.#pending.delete(msg.id);
        }
      });
      worker.on("exit", (code) => {
        runner.#closed = true;
        runner.#failAll(new Error(`onnxruntime worker exited (code ${code})`));
      });
    });
  }

  #failAll(e: Error): void {
    for (const p of this.#pending.values()) p.reject(e);
    this.#pending.clear();
  }

  run(feeds: Record<string, Tensor>, options: RunOptions = {}): Promise<Record<string, Tensor>> {
    if (this.#closed) return Promise.reject(new Error("runner released"));
    const id = this.#next++;
    const message: WorkerRequest = { type: "run", id, feeds: { ...feeds }, fetches: options.fetches };
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      const { transfer } = options;
      const names = transfer === true ? undefined : transfer || undefined;
      const list = transfer ? transferables(message.feeds, names, options.shareViews) : [];
      this.#worker.postMessage(message, list);
    });
  }

  async release(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const exited = new Promise<void>((resolve) => this.#worker.once("exit", () => resolve()));
    this.#worker.postMessage({ type: "close" } satisfies WorkerRequest);
    await exited;
  }
}

/** Opens a runner for `model`: in a worker thread (the event loop stays free) or in the calling thread. */
export function openRunner(model: Uint8Array, config: SessionConfig, worker: boolean): Promise<Runner> {
  return worker ? WorkerRunner.create(model, config) : InProcessRunner.create(model, config);
}
