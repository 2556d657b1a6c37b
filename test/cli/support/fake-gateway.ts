/**
 * A real gateway app (buildApp over an in-memory PGlite store, a temp artifact dir, the real
 * orchestrator) listening on loopback, driving fake compute services over real gRPC: fine-tuning answers
 * at once, generation streams tiny PNGs with progress, the classifier's accuracy grows with the synthetic
 * images it trained on (so gains are known in advance). What the CLI tests talk to over HTTP.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import {
  ArtifactStore,
  buildApp,
  createGatewayMetrics,
  createOrchestrator,
  DatasetService,
  generationPool,
  sha256Hex,
} from "../../../services/gateway/src/index.js";
import { type JobStore, openJobStore } from "../../../services/gateway/src/store/index.js";
import type { ByteDataset } from "../../../shared/data/index.js";
import { ClassifierService } from "../../../shared/gen/diffda/classifier/v1/classifier_pb.js";
import { AdapterKind } from "../../../shared/gen/diffda/common/v1/model_pb.js";
import { FinetuneService } from "../../../shared/gen/diffda/finetune/v1/finetune_pb.js";
import { GenerationService } from "../../../shared/gen/diffda/generation/v1/generation_pb.js";
import {
  createChannel,
  createClient,
  createRpcServer,
  type RpcChannel,
  RpcError,
  type RpcServer,
} from "../../../shared/rpc/index.js";
import { createMetrics } from "../../../shared/telemetry/index.js";

const limits = { maxReceiveMessageBytes: 16 << 20, maxSendMessageBytes: 16 << 20 };

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

async function png(value: number): Promise<Uint8Array> {
  return new Uint8Array(
    await sharp(Buffer.alloc(8 * 8, value), { raw: { width: 8, height: 8, channels: 1 } })
      .png()
      .toBuffer(),
  );
}

/** Starts the fake deployment. */
export async function startFakeGateway(options: { progressIntervalMs?: number } = {}): Promise<FakeGateway> {
  const servers: RpcServer[] = [];
  const channels: RpcChannel[] = [];
  let gate: Promise<void> | undefined;
  const serve = async (register: (server: RpcServer) => void) => {
    const server = createRpcServer({ limits });
    register(server);
    const port = await server.listen({ host: "127.0.0.1", port: 0 });
    server.setReady();
    servers.push(server);
    return `127.0.0.1:${port}`;
  };
  const finetuneAddress = await serve((server) =>
    server.register(FinetuneService, {
      async *finetune(request) {
        for (let step = 1; step <= 4; step++) {
          yield {
            event: {
              case: "progress",
              value: { stage: "textual_inversion", step, totalSteps: 4, loss: 1 / step },
            },
          };
        }
        const weights = Buffer.from(`ti ${request.spec?.classes.map((c) => c.token).join(",")}`);
        yield {
          event: {
            case: "result",
            value: {
              adapters: {
                baseModel: { name: request.spec?.baseModel?.name },
                adapters: [
                  {
                    kind: AdapterKind.TEXTUAL_INVERSION,
                    tokens: request.spec?.classes.map((c) => c.token),
                    file: {
                      name: "learned_embeds.safetensors",
                      mediaType: "application/vnd.safetensors",
                      content: weights,
                      sha256: sha256Hex(weights),
                    },
                  },
                ],
              },
              steps: 4,
              finalLoss: 0.25,
              durationSeconds: 0.1,
            },
          },
        };
      },
      // biome-ignore lint/correctness/useYield: not used by the gateway
      async *finetuneUpload() {
        throw new RpcError("unimplemented");
      },
    }),
  );
  const generationAddress = await serve((server) =>
    server.register(GenerationService, {
      async *generateShard(request) {
        if (gate) await gate;
        const skip = new Set(request.skipSampleIndices);
        let sent = 0;
        const pending = request.count - skip.size;
        for (let i = request.firstSampleIndex; i < request.firstSampleIndex + request.count; i++) {
          if (skip.has(i)) continue;
          const source = request.sources.find(
            (s) => s.sourceIndex === Math.floor(i / request.samplesPerSource),
          );
          if (!source) throw new RpcError("invalid_argument", `no source for sample ${i}`);
          const bytes = await png(40 + source.label * 80 + (i % 5) * 8);
          yield {
            event: { case: "progress", value: { stage: "generate", step: sent, totalSteps: pending } },
          };
          yield {
            event: {
              case: "image",
              value: {
                sampleIndex: i,
                seed: request.seed,
                prompt: `a photo of a ${request.classes[source.label].name}`,
                sample: {
                  image: { format: 1, data: bytes, sha256: sha256Hex(bytes) },
                  label: source.label,
                  sourceIndex: source.sourceIndex,
                },
              },
            },
          };
          sent++;
        }
        yield { event: { case: "progress", value: { stage: "generate", step: sent, totalSteps: pending } } };
        yield { event: { case: "completed", value: { imageCount: sent, durationSeconds: 0.2 } } };
      },
    }),
  );
  const classifierAddress = await serve((server) =>
    server.register(ClassifierService, {
      async *train(request) {
        const epochs = 3;
        for (let e = 1; e <= epochs; e++) {
          yield {
            event: {
              case: "progress",
              value: {
                stage: "train",
                step: e,
                totalSteps: epochs,
                loss: 1 / e,
                message: `epoch ${e}/${epochs}`,
              },
            },
          };
        }
        const checkpoint = Buffer.from(
          `${request.syntheticImages.length}:${request.spec?.hyperparameters?.seed}`,
        );
        yield {
          event: {
            case: "result",
            value: {
              checkpoint: {
                name: "classifier.onnx",
                mediaType: "application/onnx",
                content: checkpoint,
                sha256: sha256Hex(checkpoint),
              },
              epochs: [{ epoch: 1, trainLoss: 1, trainAccuracy: 0.5 }],
              parameterCount: 1000n,
              durationSeconds: 0.3,
            },
          },
        };
      },
      evaluate(request) {
        // 0.5, plus 0.001 per synthetic training image, plus 0.01 per seed: known results.
        const [synthetic, seed] = Buffer.from(request.spec?.checkpoint?.content ?? [])
          .toString()
          .split(":");
        const top1 = 0.5 + Number(synthetic) / 1000 + Number(seed) / 100;
        return {
          metrics: {
            sampleCount: request.images.length,
            top1Accuracy: top1,
            perClassAccuracy: TINY_CLASSES.map(() => top1),
            confusionMatrix: { classCount: 3, counts: [4, 0, 0, 0, 4, 0, 0, 0, 4] },
            meanLoss: 0.3,
          },
        };
      },
      // biome-ignore lint/correctness/useYield: not used by the gateway
      async *trainUpload() {
        throw new RpcError("unimplemented");
      },
      async evaluateUpload() {
        throw new RpcError("unimplemented");
      },
    }),
  );
  const channel = (address: string) => {
    const c = createChannel({ address, limits });
    channels.push(c);
    return c;
  };
  const store = await openJobStore({ kind: "memory" });
  const dir = await mkdtemp(join(tmpdir(), "diffda-cli-gateway-"));
  const artifacts = new ArtifactStore(dir);
  const upload = {
    maxFiles: 200,
    maxFileBytes: 256 * 1024,
    maxPixels: 512 * 512,
    maxTotalBytes: 8 << 20,
    maxCompressionRatio: 50,
    maxClasses: 20,
  };
  const datasets = new DatasetService({
    datasets: store.datasets,
    artifacts,
    limits: upload,
    loadBuiltin: async () => tinyBuiltin(),
  });
  const metrics = createGatewayMetrics(createMetrics({ defaultMetrics: false }), () =>
    store.tasks.queueDepth(),
  );
  const orchestrator = createOrchestrator({
    metrics,
    tasks: store.tasks,
    store,
    artifacts,
    datasets,
    clients: {
      finetune: createClient(FinetuneService, channel(finetuneAddress), { timeoutMs: 20_000 }),
      generation: generationPool([
        {
          address: "g",
          client: createClient(GenerationService, channel(generationAddress), { timeoutMs: 20_000 }),
        },
      ]),
      classifier: createClient(ClassifierService, channel(classifierAddress), { timeoutMs: 20_000 }),
    },
    models: { base: "tiny", instruct: "tiny-edit", architecture: "resnet8" },
    progressIntervalMs: options.progressIntervalMs ?? 0,
    pollMs: 20,
    leaseMs: 5_000,
    concurrency: { generate: 2, train: 2, evaluate: 2 },
  });
  const app = await buildApp({
    store,
    artifacts,
    datasets,
    orchestrator,
    metrics,
    authMode: "loopback-open",
    limits: {
      jsonBodyBytes: 256 * 1024,
      uploadBodyBytes: 4 << 20,
      upload,
      shardSize: 8,
      maxSyntheticImages: 10_000,
      maxRuns: 40,
      ssePollMs: 20,
      sseHeartbeatMs: 200,
    },
  });
  const address = await app.listen({ host: "127.0.0.1", port: 0 });
  orchestrator.start();
  return {
    url: address,
    store,
    hold() {
      let release = () => {};
      gate = new Promise<void>((resolve) => {
        release = () => {
          gate = undefined;
          resolve();
        };
      });
      return release;
    },
    async close() {
      await orchestrator.stop(0);
      await app.close();
      for (const c of channels) c.close();
      for (const s of servers) await s.drain(0);
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
