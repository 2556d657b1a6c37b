import { extname } from "node:path";
import { fileURLToPath } from "node:url";
import type { Worker } from "node:worker_threads";
import { RpcError } from "../../../../shared/rpc/index.js";
import { startModuleWorker } from "../../../../shared/service/index.js";
import type { WorkerOptions, WorkerReply, WorkerRequest, WorkerValue } from "./protocol.js";
import type {
  EngineBatch,
  EngineFailure,
  EngineImage,
  EngineProgress,
  GenerateOptions,
  GenerationEngine,
  ModelLease,
  ModelSpec,
} from "./types.js";

interface Pending {
  resolve(value: WorkerValue): void;
  reject(error: unknown): void;
  onProgress?: (progress: EngineProgress) => void;
  onSettled?: (stepsAfterCancel: number) => void;
}

function toError(failure: EngineFailure): RpcError {
  return new RpcError(
    failure.code,
    failure.message,
    failure.field ? { details: { field: failure.field } } : {},
  );
}

/**
 * The generation engine in a worker thread (worker.ts runs a LocalEngine there). Same interface as the
 * in-process engine; cancelling a batch sets a shared flag the worker checks after every denoising step
 * and sends a cancel message, so the batch stops before its next step.
 */
export class WorkerEngine implements GenerationEngine {
  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #failed: Error | undefined;

  constructor(options: WorkerOptions = {}) {
    this.#worker = startModuleWorker(
      new URL(`./worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url),
      { workerData: options },
    );
    this.#worker.on("message", (message: WorkerReply) => this.#onMessage(message));
    const fail = (error: Error) => {
      this.#failed = error;
      for (const p of this.#pending.values())
        p.reject(new RpcError("internal", `engine worker failed: ${error.message}`));
      this.#pending.clear();
    };
    this.#worker.on("error", fail);
    this.#worker.on("exit", (code) => fail(new Error(`engine worker exited with code ${code}`)));
  }

  #onMessage(message: WorkerReply): void {
    const pending = this.#pending.get(message.id);
    if (!pending) return;
    if ("progress" in message) {
      pending.onProgress?.(message.progress);
      return;
    }
    this.#pending.delete(message.id);
    if (message.ok) {
      const value = message.value;
      if (value && "images" in value) pending.onSettled?.(value.stepsAfterCancel);
      pending.resolve(value);
    } else {
      pending.onSettled?.(message.stepsAfterCancel ?? 0);
      pending.reject(toError(message.error));
    }
  }

  #call(
    request: WorkerRequest & { id: number },
    pending: Omit<Pending, "resolve" | "reject"> = {},
  ): Promise<WorkerValue> {
    if (this.#failed)
      return Promise.reject(new RpcError("internal", `engine worker failed: ${this.#failed.message}`));
    return new Promise((resolve, reject) => {
      this.#pending.set(request.id, { resolve, reject, ...pending });
      this.#worker.postMessage(request);
    });
  }

  async preload(models: readonly { id: string; dir: string }[]): Promise<void> {
    await this.#call({ op: "preload", id: this.#nextId++, models });
  }

  async acquire(spec: ModelSpec): Promise<ModelLease> {
    const value = (await this.#call({ op: "acquire", id: this.#nextId++, spec })) as Extract<
      WorkerValue,
      { lease: number }
    >;
    let released = false;
    return {
      key: value.key,
      info: value.info,
      cached: value.cached,
      release: () => {
        if (released || this.#failed) return;
        released = true;
        this.#worker.postMessage({ op: "release", lease: value.lease } satisfies WorkerRequest);
      },
    };
  }

  async generate(batch: EngineBatch, options: GenerateOptions = {}): Promise<EngineImage[]> {
    const { signal } = options;
    signal?.throwIfAborted();
    const id = this.#nextId++;
    const cancel = new Int32Array(new SharedArrayBuffer(4));
    const onAbort = () => {
      Atomics.store(cancel, 0, 1);
      this.#worker.postMessage({ op: "cancel", id } satisfies WorkerRequest);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      const value = (await this.#call(
        { op: "generate", id, batch, cancel },
        { onProgress: options.onProgress, onSettled: options.onSettled },
      )) as Extract<WorkerValue, { images: EngineImage[] }>;
      signal?.throwIfAborted();
      return value.images;
    } catch (error) {
      // A batch stopped by our signal ends with the signal's reason (the call's cancel or deadline).
      signal?.throwIfAborted();
      throw error;
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
  }

  async close(): Promise<void> {
    if (!this.#failed) await this.#call({ op: "close", id: this.#nextId++ }).catch(() => {});
    await this.#worker.terminate();
  }
}
