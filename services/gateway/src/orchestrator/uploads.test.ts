import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import sharp from "sharp";
import type { ByteDataset } from "../../../../shared/data/index.js";
import {
  ClassifierService,
  type TrainUploadRequest,
} from "../../../../shared/gen/diffda/classifier/v1/classifier_pb.js";
import type { LabelledImage } from "../../../../shared/gen/diffda/common/v1/dataset_pb.js";
import { AdapterKind } from "../../../../shared/gen/diffda/common/v1/model_pb.js";
import { FinetuneService } from "../../../../shared/gen/diffda/finetune/v1/finetune_pb.js";
import { GenerationService } from "../../../../shared/gen/diffda/generation/v1/generation_pb.js";
import {
  createChannel,
  createClient,
  createRpcServer,
  type RpcChannel,
  RpcError,
  type RpcServer,
} from "../../../../shared/rpc/index.js";
import { ChunkAssembler } from "../../../../shared/service/wire/index.js";
import { ArtifactStore, sha256Hex } from "../artifact-store.js";
import { DatasetService } from "../datasets/dataset-service.js";
import type { JobStore } from "../store/index.js";
import { idemKey, openTestStore, TEST_LIMITS, type TestGateway, testGateway } from "../test-support.js";
import { generationPool } from "./compute-clients.js";
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
const SERVICE_LIMITS = { maxReceiveMessageBytes: 2048, maxSendMessageBytes: 1 << 20 };
const CHUNK_BYTES = 1024;

describe("the orchestrator sends large sets over the Upload RPCs in chunks under the message limit", () => {
  let store: JobStore;
  let gw: TestGateway;
  let orchestrator: Orchestrator;
  let artifactDir: string;
  let datasets: DatasetService;
  const servers: RpcServer[] = [];
  const channels: RpcChannel[] = [];
  /** Per upload RPC: the chunk sizes (images) and the reassembled sets. */
  const uploads: { rpc: string; chunks: number[]; sets: LabelledImage[][] }[] = [];
  const inlineCalls: string[] = [];

  async function serve(register: (server: RpcServer) => void): Promise<string> {
    const server = createRpcServer({ limits: SERVICE_LIMITS });
    register(server);
    const port = await server.listen({ host: "127.0.0.1", port: 0 });
    server.setReady();
    servers.push(server);
    return `127.0.0.1:${port}`;
  }

  const checkpoint = Buffer.from("classifier");

  before(async () => {
    store = await openTestStore();
    const finetuneAddress = await serve((server) =>
      server.register(FinetuneService, {
        // biome-ignore lint/correctness/useYield: the inline form must not be used for this set
        async *finetune() {
          inlineCalls.push("Finetune");
          throw new RpcError("unimplemented");
        },
        async *finetuneUpload(requests) {
          const record = { rpc: "FinetuneUpload", chunks: [] as number[], sets: [] as LabelledImage[][] };
          uploads.push(record);
          let set: ChunkAssembler | undefined;
          let classes: { token: string }[] = [];
          for await (const message of requests) {
            if (message.payload.case === "header") {
              set = new ChunkAssembler("chunk", message.payload.value.imageCount);
              classes = message.payload.value.spec?.classes ?? [];
            } else if (message.payload.case === "chunk") {
              record.chunks.push(message.payload.value.images.length);
              set?.add(message.payload.value);
            }
          }
          record.sets.push((set as ChunkAssembler).finish());
          const weights = Buffer.from("ti");
          yield {
            event: {
              case: "result",
              value: {
                adapters: {
                  adapters: [
                    {
                      kind: AdapterKind.TEXTUAL_INVERSION,
                      tokens: classes.map((c) => c.token),
                      file: {
                        name: "learned_embeds.safetensors",
                        content: weights,
                        sha256: sha256Hex(weights),
                      },
                    },
                  ],
                },
                steps: 1,
              },
            },
          };
        },
      }),
    );
    const generationAddress = await serve((server) =>
      server.register(GenerationService, {
        async *generateShard(request) {
          for (let i = request.firstSampleIndex; i < request.firstSampleIndex + request.count; i++) {
            const source = Math.floor(i / request.samplesPerSource);
            const label = request.sources.find((s) => s.sourceIndex === source)?.label ?? 0;
            // Noise, so that the PNG is as big as a real sample's would be.
            const raw = Buffer.alloc(16 * 16 * 3);
            for (let p = 0; p < raw.length; p++) raw[p] = (p * 31 + i * 97) % 251;
            const bytes = await sharp(raw, { raw: { width: 16, height: 16, channels: 3 } })
              .png()
              .toBuffer();
            yield {
              event: {
                case: "image",
                value: {
                  sampleIndex: i,
                  sample: { image: { format: 1, data: bytes }, label, sourceIndex: source },
                },
              },
            };
          }
          yield { event: { case: "completed", value: { imageCount: request.count } } };
        },
      }),
    );
    const classifierAddress = await serve((server) =>
      server.register(ClassifierService, {
        // biome-ignore lint/correctness/useYield: the inline form must not be used for these sets
        async *train() {
          inlineCalls.push("Train");
          throw new RpcError("unimplemented");
        },
        async *trainUpload(requests) {
          const record = { rpc: "TrainUpload", chunks: [] as number[], sets: [] as LabelledImage[][] };
          uploads.push(record);
          let real: ChunkAssembler | undefined;
          let synthetic: ChunkAssembler | undefined;
          for await (const message of requests as AsyncIterable<TrainUploadRequest>) {
            const p = message.payload;
            if (p.case === "header") {
              real = new ChunkAssembler("real_chunk", p.value.realCount);
              synthetic = new ChunkAssembler("synthetic_chunk", p.value.syntheticCount);
            } else if (p.case === "realChunk" || p.case === "syntheticChunk") {
              record.chunks.push(p.value.images.length);
              (p.case === "realChunk" ? real : synthetic)?.add(p.value);
            }
          }
          record.sets.push((real as ChunkAssembler).finish(), (synthetic as ChunkAssembler).finish());
          yield {
            event: {
              case: "result",
              value: {
                checkpoint: { name: "c.onnx", content: checkpoint, sha256: sha256Hex(checkpoint) },
                epochs: [{ epoch: 1, trainLoss: 1, trainAccuracy: 0.5 }],
              },
            },
          };
        },
        evaluate() {
          inlineCalls.push("Evaluate");
          throw new RpcError("unimplemented");
        },
        async evaluateUpload(requests) {
          const record = { rpc: "EvaluateUpload", chunks: [] as number[], sets: [] as LabelledImage[][] };
          uploads.push(record);
          let set: ChunkAssembler | undefined;
          for await (const message of requests) {
            if (message.payload.case === "header") {
              set = new ChunkAssembler("chunk", message.payload.value.imageCount);
            } else if (message.payload.case === "chunk") {
              record.chunks.push(message.payload.value.images.length);
              set?.add(message.payload.value);
            }
          }
          const images = (set as ChunkAssembler).finish();
          record.sets.push(images);
          return {
            metrics: {
              sampleCount: images.length,
              top1Accuracy: 0.5,
              perClassAccuracy: [0.5, 0.5],
              confusionMatrix: { classCount: 2, counts: [1, 1, 1, 1] },
            },
          };
        },
      }),
    );
    const channel = (address: string) => {
      const c = createChannel({
        address,
        limits: { maxReceiveMessageBytes: 1 << 20, maxSendMessageBytes: 1 << 20 },
      });
      channels.push(c);
      return c;
    };
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
      clients: {
        finetune: createClient(FinetuneService, channel(finetuneAddress), { timeoutMs: 10_000 }),
        generation: generationPool([
          {
            address: generationAddress,
            client: createClient(GenerationService, channel(generationAddress), { timeoutMs: 10_000 }),
          },
        ]),
        classifier: createClient(ClassifierService, channel(classifierAddress), { timeoutMs: 10_000 }),
      },
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
    for (const c of channels) c.close();
    for (const s of servers) await s.drain(0);
    await gw?.close();
    await store?.close();
    if (artifactDir) await rm(artifactDir, { recursive: true, force: true });
  });

  test("finetune, train and evaluate sets arrive whole, in order, each chunk under the limit", async () => {
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
    assert.deepEqual(inlineCalls, [], "no set went inline");

    const byRpc = Object.fromEntries(uploads.map((u) => [u.rpc, u]));
    assert.deepEqual(Object.keys(byRpc).sort(), ["EvaluateUpload", "FinetuneUpload", "TrainUpload"]);
    for (const upload of uploads) assert.ok(upload.chunks.length > 1, `${upload.rpc}: ${upload.chunks}`);

    // The sets are the dataset's, image for image: labels, source indices and bytes.
    const row = await store.datasets.get(dataset.json().id);
    assert.ok(row);
    const real = await datasets.images(row);
    const summary = (set: readonly LabelledImage[]) =>
      set.map((i) => [i.label, i.sourceIndex, sha256Hex(i.image?.data ?? new Uint8Array())]);
    const expect = (list: readonly { png: Uint8Array; label: number }[]) =>
      list.map((r, i) => [r.label, i, sha256Hex(r.png)]);
    assert.deepEqual(summary(byRpc.FinetuneUpload.sets[0]), expect(real.train));
    assert.deepEqual(summary(byRpc.TrainUpload.sets[0]), expect(real.train));
    assert.deepEqual(summary(byRpc.EvaluateUpload.sets[0]), expect(real.test));
    const stored = await store.artifacts.list(id, { prefix: "synthetic/", limit: 100 });
    assert.equal(stored.length, 20);
    assert.deepEqual(
      byRpc.TrainUpload.sets[1].map((i) => sha256Hex(i.image?.data ?? new Uint8Array())),
      stored.map((a) => a.sha256),
      "the synthetic set, read from the artifact store in key order",
    );

    // The control: the same training set inline is over the services' message limit.
    const inline = createClient(ClassifierService, channels.at(-1) as RpcChannel, { timeoutMs: 10_000 });
    const refused = await (async () => {
      try {
        for await (const _ of inline.train({
          realImages: byRpc.TrainUpload.sets[0],
          syntheticImages: byRpc.TrainUpload.sets[1],
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
