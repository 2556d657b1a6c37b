import { parentPort, workerData } from "node:worker_threads";
import type { Tensor } from "../onnx/tensor.js";
import type { WorkerReply, WorkerRequest } from "./runner.js";
import { createSession, runSession, type SessionConfig } from "./session.js";

// The worker side of WorkerRunner: one onnxruntime session, requests served in arrival order.

const port = parentPort;
if (!port) throw new Error("runtime/worker must run in a worker thread");
const { model, config } = workerData as { model: Uint8Array; config: SessionConfig };

const session = await createSession(model, config).catch((e: Error) => {
  port.postMessage({ type: "error", id: -1, message: e.message } satisfies WorkerReply);
  return undefined;
});

let queue = Promise.resolve();
if (session) {
  port.postMessage({
    type: "ready",
    inputNames: [...session.inputNames],
    outputNames: [...session.outputNames],
  } satisfies WorkerReply);
  port.on("message", (msg: WorkerRequest) => {
    if (msg.type === "close") {
      queue = queue.then(async () => {
        await session.release();
        port.close();
      });
      return;
    }
    queue = queue.then(async () => {
      try {
        const outputs: Record<string, Tensor> = await runSession(session, msg.feeds, msg.fetches);
        const buffers = [...new Set(Object.values(outputs).map((t) => t.data.buffer as ArrayBuffer))];
        port.postMessage({ type: "result", id: msg.id, outputs } satisfies WorkerReply, buffers);
      } catch (e) {
        port.postMessage({ type: "error", id: msg.id, message: (e as Error).message } satisfies WorkerReply);
      }
    });
  });
} else {
  port.close();
}
