/**
 * Fake compute services for tests of the gateway and of what drives it (not part of the public API):
 * finetune, any number of generation replicas and the classifier, each served over real gRPC on loopback
 * and answering at once with results known in advance. Fine-tuning returns a textual-inversion adapter;
 * generation streams small gray PNGs whose brightness follows the label; the classifier's checkpoint
 * records what it trained on, and evaluating it scores 0.5 + synthetic images / 1000 + seed / 100, so
 * the gains a job reports are known before it runs. Filtering's scores (the classifier's label
 * probabilities, ScoreImages) are 1 − |brightness − the label's brightness| / 255, so the images drawn
 * brightest within a class score lowest. Sets arrive inline or over the chunked Upload RPCs,
 * reassembled as the real services do; the calls record which form each took.
 */
import { create } from "@bufbuild/protobuf";
import sharp from "sharp";
import {
  ClassifierService,
  type EvaluateRequest,
  EvaluateRequestSchema,
  type TrainRequest,
  TrainRequestSchema,
} from "../../../../shared/gen/diffda/classifier/v1/classifier_pb.js";
import { AdapterKind } from "../../../../shared/gen/diffda/common/v1/model_pb.js";
import {
  type FinetuneRequest,
  FinetuneRequestSchema,
  FinetuneService,
} from "../../../../shared/gen/diffda/finetune/v1/finetune_pb.js";
import {
  type CheckAdaptersRequest,
  type GenerateShardRequest,
  GenerationService,
  type ScoreImagesRequest,
} from "../../../../shared/gen/diffda/generation/v1/generation_pb.js";
import { decodeSafetensors } from "../../../../shared/ml/safetensors/index.js";
import {
  createChannel,
  createClient,
  createRpcServer,
  type RpcChannel,
  RpcError,
  type RpcServer,
} from "../../../../shared/rpc/index.js";
import { ChunkAssembler } from "../../../../shared/service/wire/index.js";
import { sha256Hex } from "../artifact-store.js";
import { type ComputeClients, generationPool } from "../orchestrator/compute-clients.js";

const limits = { maxReceiveMessageBytes: 16 << 20, maxSendMessageBytes: 16 << 20 };

/** How a set reached a fake: inline in one message, or over an Upload RPC in `chunks` chunks. */
export interface SetDelivery {
  readonly rpc: "Finetune" | "FinetuneUpload" | "Train" | "TrainUpload" | "Evaluate" | "EvaluateUpload";
  readonly chunks: number;
}

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
  /**
   * The top-1 a trained checkpoint scores, planted per training request (default: 0.5 + synthetic
   * images / 1000 + seed / 100).
   */
  readonly top1Of?: (request: TrainRequest) => number;
  /** The first call of shard `shardIndex` fails with UNAVAILABLE after `afterImages` images, once. */
  readonly failShardOnce?: { readonly shardIndex: number; readonly afterImages: number };
  /** Largest message the fake servers accept (default 16 MiB); bigger ones fail with RESOURCE_EXHAUSTED. */
  readonly maxReceiveMessageBytes?: number;
  /** Size of the textual-inversion adapter file fine-tuning returns (default: a few bytes). */
  readonly adapterBytes?: number;
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
  /** Every request received, in arrival order; uploads reassembled into the inline request's shape. */
  readonly calls: {
    readonly finetune: FinetuneRequest[];
    readonly shards: { readonly replica: string; readonly request: GenerateShardRequest }[];
    readonly train: TrainRequest[];
    readonly evaluate: EvaluateRequest[];
    /** How each fine-tuning, training and evaluation set arrived. */
    readonly deliveries: SetDelivery[];
    /** CheckAdapters requests. */
    readonly checks: CheckAdaptersRequest[];
    /** ScoreImages requests. */
    readonly scores: ScoreImagesRequest[];
  };
  /** Holds every shard call from now on until released or cancelled (to observe a running job). */
  hold(): ShardHold;
  /** Where the fakes listen (host:port), for a gateway in another process. */
  readonly addresses: { finetune: string; generation: string[]; classifier: string };
  /** Closes the channels and stops the servers. */
  close(): Promise<void>;
}

/** The models every fake replica serves (the ids the gateway tests configure). */
export const FAKE_MODELS = ["tiny-ip2p", "tiny-sd"];

/**
 * CheckAdapters of the fakes: a model outside FAKE_MODELS is not found; a file that is not safetensors, or
 * holds a key containing "bad", is refused naming that key (as a replica names the first key that does
 * not fit).
 */
function checkFakeAdapters(request: CheckAdaptersRequest) {
  const model = request.model?.baseModel?.name ?? "";
  if (!FAKE_MODELS.includes(model)) {
    throw new RpcError("model_not_found", `model.base_model.name: no model "${model}"`, {
      details: { field: "model.base_model.name" },
    });
  }
  for (const [i, adapter] of (request.model?.adapters ?? []).entries()) {
    const field = `model.adapters[${i}].file.content`;
    let keys: string[];
    try {
      keys = [...decodeSafetensors(adapter.file?.content ?? new Uint8Array()).tensors.keys()];
    } catch (error) {
      throw new RpcError("invalid_field", `${field}: not a safetensors file (${String(error)})`, {
        details: { field },
      });
    }
    const bad = keys.find((k) => k.includes("bad"));
    if (bad) {
      throw new RpcError("invalid_field", `${field}: key "${bad}": does not fit ${model}`, {
        details: { field, key: bad },
      });
    }
  }
  return {};
}

/** A stable stand-in for a model folder's digest. */
export function fakeModelDigest(id: string): string {
  return sha256Hex(new TextEncoder().encode(`fake model ${id}`));
}

function fakeModel(id: string) {
  return {
    id,
    sha256: fakeModelDigest(id),
    bytes: 1024n,
    nativeHeight: 32,
    nativeWidth: 32,
    pipeline: "OnnxStableDiffusionPipeline",
    summary: `A fake ${id} for gateway tests.`,
    card: `# ${id}\n\nA fake ${id} for gateway tests.\n`,
  };
}

/** The brightness the fake generation draws class `label` at (before the per-sample offset). */
const labelBrightness = (label: number) => 40 + label * 80;

/** The fakes' filtering score of an image for a label: how close its first pixel is to the label's brightness. */
async function fakeScore(png: Uint8Array | undefined, label: number): Promise<number> {
  const pixel = await sharp(png ?? new Uint8Array())
    .raw()
    .toBuffer();
  return 1 - Math.abs(pixel[0] - labelBrightness(label)) / 255;
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
  const listening: string[] = []; // finetune, the generation replicas, classifier
  const calls: FakeCompute["calls"] = {
    finetune: [],
    shards: [],
    train: [],
    evaluate: [],
    deliveries: [],
    checks: [],
    scores: [],
  };
  const side = options.imageSize ?? 8;
  let failOnce = options.failShardOnce;
  let held: { gate: Promise<void>; cancelled: number } | undefined;

  const serve = async (register: (server: RpcServer) => void) => {
    const server = createRpcServer({
      limits: {
        ...limits,
        maxReceiveMessageBytes: options.maxReceiveMessageBytes ?? limits.maxReceiveMessageBytes,
      },
    });
    servers.push(server);
    register(server);
    const port = await server.listen({ host: "127.0.0.1", port: 0 });
    listening.push(`127.0.0.1:${port}`);
    server.setReady();
    const channel = createChannel({ address: `127.0.0.1:${port}`, limits });
    channels.push(channel);
    return channel;
  };
  const timeout = { timeoutMs: options.timeoutMs ?? 20_000 };

  async function* finetuneRun(request: FinetuneRequest) {
    calls.finetune.push(request);
    const steps = 4;
    for (let step = 1; step <= steps; step++) {
      yield {
        event: {
          case: "progress" as const,
          value: { stage: "textual_inversion", step, totalSteps: steps, loss: 1 / step },
        },
      };
    }
    const tokens = request.spec?.classes.map((c) => c.token);
    const weights = Buffer.from(`ti ${tokens?.join(",")}`.padEnd(options.adapterBytes ?? 0));
    yield {
      event: {
        case: "result" as const,
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
          cpuSeconds: 3,
        },
      },
    };
  }

  const finetune = await serve((server) =>
    server.register(FinetuneService, {
      finetune(request) {
        calls.deliveries.push({ rpc: "Finetune", chunks: 0 });
        return finetuneRun(request);
      },
      async *finetuneUpload(requests) {
        let request: FinetuneRequest | undefined;
        let images: ChunkAssembler | undefined;
        let chunks = 0;
        for await (const message of requests) {
          if (message.payload.case === "header") {
            request = create(FinetuneRequestSchema, { spec: message.payload.value.spec });
            images = new ChunkAssembler("chunk", message.payload.value.imageCount);
          } else if (message.payload.case === "chunk" && images) {
            images.add(message.payload.value);
            chunks++;
          } else throw new RpcError("invalid_stream", "the header comes first, and once");
        }
        if (!request || !images) throw new RpcError("invalid_stream", "no header");
        request.images = images.finish();
        calls.deliveries.push({ rpc: "FinetuneUpload", chunks });
        yield* finetuneRun(request);
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
          const data = await grayPng(side, labelBrightness(label) + (i % 5) * 8);
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
        // A quarter CPU second per image sent: a failed attempt's images cost CPU nobody reports.
        const model = request.model?.baseModel?.name ?? "";
        yield {
          event: {
            case: "completed",
            value: {
              imageCount: sent,
              durationSeconds: 0.2,
              cpuSeconds: sent * 0.25,
              modelId: model,
              modelSha256: fakeModelDigest(model),
            },
          },
        };
      },
      async listModels() {
        return { models: FAKE_MODELS.map((id) => fakeModel(id)) };
      },
      async checkAdapters(request) {
        calls.checks.push(request);
        return checkFakeAdapters(request);
      },
      async scoreImages(request) {
        calls.scores.push(request);
        return {
          scores: await Promise.all(request.images.map((image) => fakeScore(image.image?.data, image.label))),
        };
      },
    });
  const generation = [];
  for (const name of options.replicas ?? ["g"]) {
    const channel = await serve(replica(name));
    generation.push({ address: name, client: createClient(GenerationService, channel, timeout) });
  }

  async function* trainRun(request: TrainRequest) {
    calls.train.push(request);
    const epochs = 3;
    for (let e = 1; e <= epochs; e++) {
      yield {
        event: {
          case: "progress" as const,
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
      options.top1Of === undefined
        ? `${request.syntheticImages.length}:${request.spec?.hyperparameters?.seed}`
        : `top1=${options.top1Of(request)}`,
    );
    yield {
      event: {
        case: "result" as const,
        value: {
          checkpoint: {
            name: "classifier.onnx",
            mediaType: "application/onnx",
            content: checkpoint,
            sha256: sha256Hex(checkpoint),
          },
          // As if the service sized the batch and epochs: 1 epoch of 3 steps of 4 images.
          hyperparameters: { epochs: 1, batchSize: 4, seed: request.spec?.hyperparameters?.seed ?? 0n },
          epochs: [{ epoch: 1, trainLoss: 1, trainAccuracy: 0.5 }],
          parameterCount: 1000n,
          durationSeconds: 0.3,
          cpuSeconds: 2,
          steps: 3n,
          imagesSeen: 12n,
          backbone: request.spec?.backbone || "scratch",
        },
      },
    };
  }

  async function evaluateRun(request: EvaluateRequest) {
    calls.evaluate.push(request);
    const content = Buffer.from(request.spec?.checkpoint?.content ?? []).toString();
    const [synthetic, seed] = content.split(":");
    const planted = content.startsWith("top1=");
    const top1 = planted ? Number(content.slice(5)) : 0.5 + Number(synthetic) / 1000 + Number(seed) / 100;
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
        // A planted top-1 is also what the per-image answers say: the first ⌈top1 · n⌉ images right.
        predictions: request.images.map((image, i) =>
          !planted || i < Math.ceil(top1 * request.images.length) ? image.label : (image.label + 1) % k,
        ),
        labelProbabilities: await Promise.all(
          request.images.map((image) => fakeScore(image.image?.data, image.label)),
        ),
      },
      cpuSeconds: 0.125,
    };
  }

  const classifier = await serve((server) =>
    server.register(ClassifierService, {
      train(request) {
        calls.deliveries.push({ rpc: "Train", chunks: 0 });
        return trainRun(request);
      },
      async *trainUpload(requests) {
        let request: TrainRequest | undefined;
        let real: ChunkAssembler | undefined;
        let synthetic: ChunkAssembler | undefined;
        let chunks = 0;
        for await (const message of requests) {
          const payload = message.payload;
          if (payload.case === "header") {
            request = create(TrainRequestSchema, { spec: payload.value.spec });
            real = new ChunkAssembler("real_chunk", payload.value.realCount);
            synthetic = new ChunkAssembler("synthetic_chunk", payload.value.syntheticCount);
          } else if (payload.case === "realChunk" && real) {
            real.add(payload.value);
            chunks++;
          } else if (payload.case === "syntheticChunk" && synthetic) {
            synthetic.add(payload.value);
            chunks++;
          } else throw new RpcError("invalid_stream", "the header comes first, and once");
        }
        if (!request || !real || !synthetic) throw new RpcError("invalid_stream", "no header");
        request.realImages = real.finish();
        request.syntheticImages = synthetic.finish();
        calls.deliveries.push({ rpc: "TrainUpload", chunks });
        yield* trainRun(request);
      },
      evaluate(request) {
        calls.deliveries.push({ rpc: "Evaluate", chunks: 0 });
        return evaluateRun(request);
      },
      async evaluateUpload(requests) {
        let request: EvaluateRequest | undefined;
        let images: ChunkAssembler | undefined;
        let chunks = 0;
        for await (const message of requests) {
          if (message.payload.case === "header") {
            request = create(EvaluateRequestSchema, { spec: message.payload.value.spec });
            images = new ChunkAssembler("chunk", message.payload.value.imageCount);
          } else if (message.payload.case === "chunk" && images) {
            images.add(message.payload.value);
            chunks++;
          } else throw new RpcError("invalid_stream", "the header comes first, and once");
        }
        if (!request || !images) throw new RpcError("invalid_stream", "no header");
        request.images = images.finish();
        calls.deliveries.push({ rpc: "EvaluateUpload", chunks });
        return evaluateRun(request);
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
    addresses: {
      finetune: listening[0],
      generation: listening.slice(1, -1),
      classifier: listening.at(-1) ?? "",
    },
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
