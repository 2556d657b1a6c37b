/**
 * Fake compute services for tests of the gateway and of what drives it (not part of the public API):
 * finetune, any number of generation replicas and the classifier, each served over real gRPC on loopback
 * and answering at once with results known in advance. Fine-tuning returns a textual-inversion adapter;
 * generation streams small gray PNGs whose brightness follows the label; the classifier's checkpoint
 * records what it trained on, and evaluating it scores 0.5 + synthetic images / 1000 + seed / 100, so
 * the gains a job reports are known before it runs.
 */
import sharp from "sharp";
import { ClassifierService } from "../../../shared/gen/diffda/classifier/v1/classifier_pb.js";
import { AdapterKind } from "../../../shared/gen/diffda/common/v1/model_pb.js";
import { type FinetuneRequest, FinetuneService } from "../../../shared/gen/diffda/finetune/v1/finetune_pb.js";
import {
  type GenerateShardRequest,
  GenerationService,
} from "../../../shared/gen/diffda/generation/v1/generation_pb.js";
import {
  createChannel,
  createClient,
  createRpcServer,
  type RpcChannel,
  RpcError,
  type RpcServer,
} from "../../../shared/rpc/index.js";
import { sha256Hex } from "./artifact-store.js";
import { type ComputeClients, generationPool } from "./orchestrator/compute-clients.js";

const limits = { maxReceiveMessageBytes: 16 << 20, maxSendMessageBytes: 16 << 20 };

/** Options of {@link startFakeCompute}. */
export interface FakeComputeOptions {
  /** Classes of the task: the evaluation's per-class figures; inter-class samples take the next class. */
  readonly classes: number;
  /** Generation replicas by name, also their pool addresses (default one, "g"). */
  readonly replicas?: readonly string[];
  /** Side of the generated images (default 8). */
  readonly imageSize?: number;
  /** Deadline of every call the clients make (default 20 s). */
  readonly timeoutMs?: number;
  /** Per-class accuracy reported for a top-1 (default: the top-1 for every class). */
  readonly perClassAccuracy?: (top1: number) => number[];
  /** The first call of shard `shardIndex` fails with UNAVAILABLE after `afterImages` images, once. */
  readonly failShardOnce?: { readonly shardIndex: number; readonly afterImages: number };
}

/** Shard calls held by {@link FakeCompute.hold}. */
export interface ShardHold {
  /** Held shard calls whose caller cancelled them (the signal reached the replica). */
  readonly cancelled: number;
  /** Lets held and later shards run. */
  release(): void;
}

/** The running fakes. */
export interface FakeCompute {
  /** Clients on real channels to the fakes, as the orchestrator takes them. */
  readonly clients: ComputeClients;
  /** Every fine-tuning and shard request received, in arrival order. */
  readonly calls: {
    readonly finetune: FinetuneRequest[];
    readonly shards: { readonly replica: string; readonly request: GenerateShardRequest }[];
  };
  /** Holds every shard call from now on until released or cancelled (to observe a running job). */
  hold(): ShardHold;
  /** Closes the channels and stops the servers. */
  close(): Promise<void>;
}

async function grayPng(side: number, value: number): Promise<Uint8Array> {
  const raw = { width: side, height: side, channels: 1 as const };
  return new Uint8Array(
    await sharp(Buffer.alloc(side * side, value), { raw })
      .png()
      .toBuffer(),
  );
}

/** Starts the fake services on loopback ports and connects the clients. */
export async function startFakeCompute(options: FakeComputeOptions): Promise<FakeCompute> {
  const servers: RpcServer[] = [];
  const channels: RpcChannel[] = [];
  const calls: FakeCompute["calls"] = { finetune: [], shards: [] };
  const side = options.imageSize ?? 8;
  let failOnce = options.failShardOnce;
  let held: { gate: Promise<void>; cancelled: number } | undefined;

  const serve = async (register: (server: RpcServer) => void) => {
    const server = createRpcServer({ limits });
    servers.push(server);
    register(server);
    const port = await server.listen({ host: "127.0.0.1", port: 0 });
    server.setReady();
    const channel = createChannel({ address: `127.0.0.1:${port}`, limits });
    channels.push(channel);
    return channel;
  };
  const timeout = { timeoutMs: options.timeoutMs ?? 20_000 };

  const finetune = await serve((server) =>
    server.register(FinetuneService, {
      async *finetune(request) {
        calls.finetune.push(request);
        const steps = 4;
        for (let step = 1; step <= steps; step++) {
          yield {
            event: {
              case: "progress",
              value: { stage: "textual_inversion", step, totalSteps: steps, loss: 1 / step },
            },
          };
        }
        const tokens = request.spec?.classes.map((c) => c.token);
        const weights = Buffer.from(`ti ${tokens?.join(",")}`);
        yield {
          event: {
            case: "result",
            value: {
              adapters: {
                baseModel: { name: request.spec?.baseModel?.name },
                adapters: [
                  {
                    kind: AdapterKind.TEXTUAL_INVERSION,
                    tokens,
                    file: {
                      name: "learned_embeds.safetensors",
                      mediaType: "application/vnd.safetensors",
                      content: weights,
                      sha256: sha256Hex(weights),
                    },
                  },
                ],
              },
              steps,
              finalLoss: 1 / steps,
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

  const replica = (name: string) => (server: RpcServer) =>
    server.register(GenerationService, {
      async *generateShard(request, context) {
        calls.shards.push({ replica: name, request });
        const hold = held;
        if (hold) {
          const aborted = new Promise<boolean>((resolve) =>
            context.signal.addEventListener("abort", () => resolve(true), { once: true }),
          );
          if (await Promise.race([aborted, hold.gate.then(() => false)])) {
            hold.cancelled++;
            return;
          }
        }
        const skip = new Set(request.skipSampleIndices);
        const pending = request.count - skip.size;
        const inter = request.method.case === "img2imgInterClass";
        let sent = 0;
        for (let i = request.firstSampleIndex; i < request.firstSampleIndex + request.count; i++) {
          if (skip.has(i)) continue;
          if (failOnce?.shardIndex === request.shardIndex && sent === failOnce.afterImages) {
            failOnce = undefined;
            throw new RpcError("unavailable", "replica died mid-shard");
          }
          const source = request.sources.find(
            (s) => s.sourceIndex === Math.floor(i / request.samplesPerSource),
          );
          if (!source) throw new RpcError("invalid_argument", `no source for sample ${i}`);
          const label = inter ? (source.label + 1) % options.classes : source.label;
          const data = await grayPng(side, 40 + label * 80 + (i % 5) * 8);
          const target = request.classes[source.label];
          yield {
            event: { case: "progress", value: { stage: "generate", step: sent, totalSteps: pending } },
          };
          yield {
            event: {
              case: "image",
              value: {
                sampleIndex: i,
                seed: request.seed,
                prompt: `a photo of a ${target.token || target.name}`,
                sample: {
                  image: { format: 1, data, sha256: sha256Hex(data) },
                  label,
                  sourceIndex: source.sourceIndex,
                  ...(inter ? { interClass: { sourceLabel: source.label, strength: 0.7 } } : {}),
                },
              },
            },
          };
          sent++;
        }
        yield { event: { case: "progress", value: { stage: "generate", step: sent, totalSteps: pending } } };
        yield { event: { case: "completed", value: { imageCount: sent, durationSeconds: 0.2 } } };
      },
    });
  const generation = [];
  for (const name of options.replicas ?? ["g"]) {
    const channel = await serve(replica(name));
    generation.push({ address: name, client: createClient(GenerationService, channel, timeout) });
  }

  const classifier = await serve((server) =>
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
        // What the evaluation scores: the synthetic images trained on and the seed.
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
        const [synthetic, seed] = Buffer.from(request.spec?.checkpoint?.content ?? [])
          .toString()
          .split(":");
        const top1 = 0.5 + Number(synthetic) / 1000 + Number(seed) / 100;
        const k = options.classes;
        // Every image predicted as its own class: the counts on the diagonal.
        const counts = new Array<number>(k * k).fill(0);
        for (const image of request.images) counts[image.label * k + image.label]++;
        return {
          metrics: {
            sampleCount: request.images.length,
            top1Accuracy: top1,
            perClassAccuracy: options.perClassAccuracy?.(top1) ?? new Array<number>(k).fill(top1),
            confusionMatrix: { classCount: k, counts },
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

  const closeChannels = () => {
    for (const channel of channels) channel.close();
  };
  return {
    clients: {
      finetune: createClient(FinetuneService, finetune, timeout),
      generation: generationPool(generation),
      classifier: createClient(ClassifierService, classifier, timeout),
      close: closeChannels,
    },
    calls,
    hold() {
      let release = () => {};
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      const hold = { gate, cancelled: 0 };
      held = hold;
      return {
        get cancelled() {
          return hold.cancelled;
        },
        release() {
          if (held === hold) held = undefined;
          release();
        },
      };
    },
    async close() {
      held = undefined;
      closeChannels();
      for (const server of servers) await server.drain(0);
    },
  };
}
