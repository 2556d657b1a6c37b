/**
 * A real gateway app (buildApp over an in-memory PGlite store, a temp artifact dir, the real
 * orchestrator) listening on loopback, driving the gateway's fake compute services over real gRPC
 * (services/gateway/src/testing/fake-compute.ts: fine-tuning answers at once, generation streams tiny PNGs with
 * progress, the classifier's accuracy grows with the synthetic images it trained on, so gains are known in
 * advance). What the CLI tests talk to over HTTP.
 */
import type { JobStore } from "../../../services/gateway/src/store/index.js";
import { startComputeGateway } from "../../../services/gateway/src/testing/compute-gateway.js";
import type { ByteDataset } from "../../../shared/data/index.js";

/** Class names of the tiny built-in dataset. */
export const TINY_CLASSES = ["shoe", "bag", "shirt"];

/** 3 classes × (6 train + 4 test) images, 8×8 gray, each class a different brightness band. */
export function tinyBuiltin(): ByteDataset {
  const perClass = 10;
  const n = TINY_CLASSES.length * perClass;
  const labels = Int32Array.from({ length: n }, (_, i) => Math.floor(i / perClass));
  const split = Uint8Array.from({ length: n }, (_, i) => (i % perClass < 6 ? 0 : 1));
  return {
    name: "tiny",
    channels: 1,
    height: 8,
    width: 8,
    classNames: TINY_CLASSES,
    pixels: Uint8Array.from({ length: n * 64 }, (_, p) => 40 + labels[Math.floor(p / 64)] * 80 + (p % 7)),
    labels,
    split,
    origin: Int32Array.from({ length: n }, (_, i) => i),
    train: Int32Array.from({ length: n }, (_, i) => i).filter((i) => split[i] === 0),
    test: Int32Array.from({ length: n }, (_, i) => i).filter((i) => split[i] === 1),
  };
}

/** A running fake deployment. */
export interface FakeGateway {
  readonly url: string;
  readonly store: JobStore;
  /** Holds generation until released (to observe a running job). */
  hold(): () => void;
  close(): Promise<void>;
}

/** Starts the fake deployment. */
export async function startFakeGateway(options: { progressIntervalMs?: number } = {}): Promise<FakeGateway> {
  const upload = {
    maxFiles: 200,
    maxFileBytes: 256 * 1024,
    maxPixels: 512 * 512,
    maxTotalBytes: 8 << 20,
    maxCompressionRatio: 50,
    maxClasses: 20,
  };
  const stack = await startComputeGateway({
    // The fake compute's own image size and timeout, which the CLI tests were written against.
    compute: { classes: TINY_CLASSES.length, imageSize: undefined, timeoutMs: undefined },
    builtin: tinyBuiltin,
    orchestrator: {
      models: { base: "tiny", instruct: "tiny-edit", architecture: "resnet8" },
      progressIntervalMs: options.progressIntervalMs ?? 0,
    },
    limits: {
      jsonBodyBytes: 256 * 1024,
      uploadBodyBytes: 4 << 20,
      adapterBodyBytes: 1 << 20,
      upload,
      shardSize: 8,
      maxSyntheticImages: 10_000,
      maxRuns: 40,
      ssePollMs: 20,
      sseHeartbeatMs: 200,
    },
    app: () => ({ authMode: "loopback-open" }),
  });
  const address = await stack.gw.app.listen({ host: "127.0.0.1", port: 0 });
  return {
    url: address,
    store: stack.store,
    hold() {
      const held = stack.compute.hold();
      return () => held.release();
    },
    close: () => stack.close(),
  };
}
