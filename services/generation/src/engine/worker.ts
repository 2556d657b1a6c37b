/**
 * Entry of the engine worker thread: a LocalEngine driven by messages (see protocol.ts). onnxruntime runs
 * here, so the service thread's event loop stays free for RPC traffic, health checks and metrics.
 */
import { parentPort, workerData } from "node:worker_threads";
import { RpcError } from "../../../../shared/rpc/index.js";
import { LocalEngine } from "./local.js";
import type { WorkerOptions, WorkerReply, WorkerRequest } from "./protocol.js";
import type { EngineFailure, ModelLease } from "./types.js";

const port = parentPort;
if (!port) throw new Error("engine worker: no parent port");
const options = (workerData ?? {}) as WorkerOptions;
const engine = new LocalEngine({
  adapterCacheSize: options.adapterCacheSize,
  sessionOptions: options.threads ? { intraOpNumThreads: options.threads } : undefined,
});
const leases = new Map<number, ModelLease>();
const running = new Map<number, AbortController>();
let nextLease = 1;

function failure(error: unknown): EngineFailure {
  const e = RpcError.from(error);
  const code =
    e.code === "invalid_field" || e.code === "failed_precondition" || e.code === "unimplemented"
      ? e.code
      : "internal";
  return { code, message: e.message, field: e.details.field };
}

function reply(message: WorkerReply, transfer: ArrayBuffer[] = []): void {
  port?.postMessage(message, transfer);
}

async function generate(request: Extract<WorkerRequest, { op: "generate" }>): Promise<void> {
  const controller = new AbortController();
  running.set(request.id, controller);
  let stepsAfterCancel = 0;
  const cancelled = () => Atomics.load(request.cancel, 0) === 1;
  try {
    if (cancelled()) controller.abort(new RpcError("cancelled", "the batch was cancelled"));
    const images = await engine.generate(request.batch, {
      signal: controller.signal,
      onProgress: (progress) => {
        if (cancelled()) {
          stepsAfterCancel++;
          controller.abort(new RpcError("cancelled", "the batch was cancelled"));
        }
        reply({ id: request.id, progress });
      },
    });
    reply(
      { id: request.id, ok: true, value: { images, stepsAfterCancel } },
      images.map((i) => i.png.buffer as ArrayBuffer),
    );
  } catch (error) {
    reply({ id: request.id, ok: false, error: failure(error), stepsAfterCancel });
  } finally {
    running.delete(request.id);
  }
}

port.on("message", (request: WorkerRequest) => {
  switch (request.op) {
    case "preload":
      engine.preload(request.models).then(
        () => reply({ id: request.id, ok: true, value: undefined }),
        (error: unknown) => reply({ id: request.id, ok: false, error: failure(error) }),
      );
      return;
    case "acquire":
      engine.acquire(request.spec).then(
        (lease) => {
          const id = nextLease++;
          leases.set(id, lease);
          reply({
            id: request.id,
            ok: true,
            value: { lease: id, key: lease.key, info: lease.info, cached: lease.cached },
          });
        },
        (error: unknown) => reply({ id: request.id, ok: false, error: failure(error) }),
      );
      return;
    case "release":
      leases.get(request.lease)?.release();
      leases.delete(request.lease);
      return;
    case "generate":
      void generate(request);
      return;
    case "cancel":
      running.get(request.id)?.abort(new RpcError("cancelled", "the batch was cancelled"));
      return;
    case "close":
      for (const c of running.values()) c.abort(new RpcError("shutting_down", "the engine is closing"));
      engine.close().then(
        () => reply({ id: request.id, ok: true, value: undefined }),
        (error: unknown) => reply({ id: request.id, ok: false, error: failure(error) }),
      );
      return;
  }
});
