import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { ByteDataset } from "../../../../shared/data/index.js";
import type { LabelledImage } from "../../../../shared/gen/diffda/common/v1/dataset_pb.js";
import { RpcError } from "../../../../shared/rpc/index.js";
import { ArtifactStore, sha256Hex } from "../artifact-store.js";
import { DatasetService } from "../datasets/dataset-service.js";
import type { JobStore } from "../store/index.js";
import { idemKey, openTestStore, TEST_LIMITS, type TestGateway, testGateway } from "../test-support.js";
import { type FakeCompute, startFakeCompute } from "../testing/fake-compute.js";
import { createOrchestrator, type Orchestrator } from "./orchestrator.js";
import { chunkImages, IMAGE_OVERHEAD_BYTES, type LabelledImageInit } from "./uploads.js";

const image = (bytes: number, label = 0): LabelledImageInit => ({
  image: { format: 1, data: new Uint8Array(bytes) },
  label,
});

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

describe("chunkImages", () => {
  test("fills chunks up to the byte budget, in order, with offsets counting the images sent before", async () => {
    const each = 100 + IMAGE_OVERHEAD_BYTES;
    const images = Array.from({ length: 7 }, (_, i) => image(100, i));
    const chunks = await collect(chunkImages(images, 3 * each));
    assert.deepEqual(
      chunks.map((c) => [c.offset, c.images?.map((i) => i.label)]),
      [
        [0, [0, 1, 2]],
        [3, [3, 4, 5]],
        [6, [6]],
      ],
    );
  });

  test("an image over the budget travels alone; an empty set makes no chunk", async () => {
    const chunks = await collect(chunkImages([image(10), image(5000), image(10)], 1000));
    assert.deepEqual(
      chunks.map((c) => [c.offset, c.images?.length]),
      [
        [0, 1],
        [1, 1],
        [2, 1],
      ],
    );
    assert.deepEqual(await collect(chunkImages([], 1000)), []);
    await assert.rejects(collect(chunkImages([image(1)], 0)), RangeError);
  });
});

/** 2 classes, 2 train + 2 test images each, 16×16 noise (PNGs of a few hundred bytes). */
function noisyBuiltin(): ByteDataset {
  const n = 8;
  let state = 7;
  const next = () => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return state >>> 24;
  };
  return {
    name: "tiny",
    channels: 1,
    height: 16,
    width: 16,
    classNames: ["shoe", "bag"],
    pixels: Uint8Array.from({ length: n * 256 }, next),
    labels: Int32Array.from({ length: n }, (_, i) => i % 2),
    split: Uint8Array.from({ length: n }, (_, i) => (i < 4 ? 0 : 1)),
    origin: Int32Array.from({ length: n }, (_, i) => i),
    train: Int32Array.from([0, 1, 2, 3]),
    test: Int32Array.from([4, 5, 6, 7]),
  };
}

// The compute services accept no message over 2 KiB; a job's sets are several times that.
const MAX_MESSAGE = 2048;
const CHUNK_BYTES = 1024;

describe("the orchestrator sends large sets over the Upload RPCs in chunks under the message limit", () => {
  let store: JobStore;
  let gw: TestGateway;
  let orchestrator: Orchestrator;
  let compute: FakeCompute;
  let artifactDir: string;
  let datasets: DatasetService;

  before(async () => {
    store = await openTestStore();
    compute = await startFakeCompute({ classes: 2, imageSize: 16, maxReceiveMessageBytes: MAX_MESSAGE });
    artifactDir = await mkdtemp(join(tmpdir(), "diffda-uploads-"));
    const artifacts = new ArtifactStore(artifactDir);
    datasets = new DatasetService({
      datasets: store.datasets,
      artifacts,
      limits: TEST_LIMITS.upload,
      loadBuiltin: async () => noisyBuiltin(),
    });
    orchestrator = createOrchestrator({
      tasks: store.tasks,
      store,
      artifacts,
      datasets,
      clients: compute.clients,
      models: { base: "tiny-sd", instruct: "tiny-ip2p", architecture: "resnet8" },
      uploadChunkBytes: CHUNK_BYTES,
      progressIntervalMs: 0,
      pollMs: 20,
      leaseMs: 5_000,
    });
    gw = await testGateway({ store, artifacts, authMode: "loopback-open", datasets, orchestrator });
    orchestrator.start();
  });

  after(async () => {
    await orchestrator?.stop(0);
    await compute?.close();
    await gw?.close();
    await store?.close();
    if (artifactDir) await rm(artifactDir, { recursive: true, force: true });
  });

  test("finetune, train and evaluate sets arrive whole, in order, in several chunks each", async () => {
    const dataset = await gw.app.inject({
      method: "POST",
      url: "/v1/datasets",
      headers: { "idempotency-key": idemKey() },
      payload: { builtin: "fashion-mnist", shots: 2 },
    });
    assert.equal(dataset.statusCode, 201, dataset.body);
    const submitted = await gw.app.inject({
      method: "POST",
      url: "/v1/jobs",
      headers: { "idempotency-key": idemKey() },
      payload: { datasetId: dataset.json().id, methods: [{ preset: "da-fusion" }], baselines: [] },
    });
    assert.equal(submitted.statusCode, 201, submitted.body);
    const id = submitted.json().id;
    let job: { state: string; error: unknown } = { state: "queued", error: null };
    const deadline = Date.now() + 30_000;
    while (!["succeeded", "failed", "cancelled"].includes(job.state)) {
      assert.ok(Date.now() < deadline, `job still ${job.state}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
      job = (await gw.app.inject({ method: "GET", url: `/v1/jobs/${id}` })).json();
    }
    assert.equal(job.state, "succeeded", JSON.stringify(job.error));

    const { deliveries } = compute.calls;
    assert.deepEqual(deliveries.map((d) => d.rpc).sort(), [
      "EvaluateUpload",
      "FinetuneUpload",
      "TrainUpload",
    ]);
    for (const d of deliveries) assert.ok(d.chunks > 1, `${d.rpc}: ${d.chunks} chunks`);

    // The sets are the dataset's, image for image: labels, source indices and bytes.
    const row = await store.datasets.get(dataset.json().id);
    assert.ok(row);
    const real = await datasets.images(row);
    const summary = (set: readonly LabelledImage[]) =>
      set.map((i) => [i.label, i.sourceIndex, sha256Hex(i.image?.data ?? new Uint8Array())]);
    const expected = (list: readonly { png: Uint8Array; label: number }[]) =>
      list.map((r, i) => [r.label, i, sha256Hex(r.png)]);
    const [finetune] = compute.calls.finetune;
    const [train] = compute.calls.train;
    const [evaluate] = compute.calls.evaluate;
    assert.deepEqual(summary(finetune.images), expected(real.train));
    assert.deepEqual(summary(train.realImages), expected(real.train));
    assert.deepEqual(summary(evaluate.images), expected(real.test));
    const stored = await store.artifacts.list(id, { prefix: "synthetic/", limit: 100 });
    assert.equal(stored.length, 20);
    assert.deepEqual(
      train.syntheticImages.map((i) => sha256Hex(i.image?.data ?? new Uint8Array())),
      stored.map((a) => a.sha256),
      "the synthetic set, read from the artifact store in key order",
    );

    // The control: the same training set inline is over the services' message limit.
    const refused = await (async () => {
      try {
        for await (const _ of compute.clients.classifier.train({
          realImages: train.realImages,
          syntheticImages: train.syntheticImages,
        })) {
          // drain
        }
      } catch (error) {
        return error;
      }
    })();
    assert.ok(refused instanceof RpcError, String(refused));
    assert.equal(refused.grpcCode, 8, "RESOURCE_EXHAUSTED: the inline message is too large");
  });
});
