/**
 * Wire-level fuzzing of every gRPC method the compute services serve (FinetuneService, GenerationService,
 * ClassifierService), each service started as its own process on loopback with the tiny test models.
 *
 * The typed clients of shared/rpc can only send well-formed messages, so this suite talks to the services
 * through a raw grpc-js client whose serializers pass Buffers through untouched. For every method it sends
 * a deterministic set of hostile payloads built from the method's own descriptor: the empty message,
 * seeded random bytes, truncations of a valid request, every field number with a wrong wire type,
 * overflowing varints, length prefixes past the end of the buffer, deeply nested groups, huge repeated
 * fields, invalid UTF-8 in string fields, a message over the service's receive limit, and well-formed
 * requests with nonsense values. Streaming-request methods get the payloads as stream messages, alone
 * and after a valid header.
 *
 * Why: a malformed or nonsensical request is the client's fault and must be answered as such (e.g.
 * INVALID_ARGUMENT, RESOURCE_EXHAUSTED), never as INTERNAL or UNKNOWN, which blame the server, and it must
 * never take the process down. After every payload the suite checks that the process still runs and
 * that its health check still says SERVING. The counts by status are printed as a diagnostic.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  create,
  type DescField,
  type DescMessage,
  type DescMethod,
  type DescService,
  ScalarType,
  toBinary,
} from "@bufbuild/protobuf";
import { credentials, Client as GrpcClient, Metadata, type ServiceError } from "@grpc/grpc-js";
import {
  ClassifierService,
  EvaluateRequestSchema,
  EvaluateUploadRequestSchema,
  type Optimizer,
  type TraditionalAugmentation,
  TrainRequestSchema,
  type TrainSpecSchema,
  TrainUploadRequestSchema,
  type UtilizationMode,
} from "../shared/gen/diffda/classifier/v1/classifier_pb.js";
import type { ArtifactSchema } from "../shared/gen/diffda/common/v1/artifact_pb.js";
import { type ImageDataSchema, ImageFormat } from "../shared/gen/diffda/common/v1/image_pb.js";
import {
  type FinetuneMethod,
  FinetuneRequestSchema,
  FinetuneService,
  type FinetuneSpecSchema,
  FinetuneUploadRequestSchema,
} from "../shared/gen/diffda/finetune/v1/finetune_pb.js";
import {
  CheckAdaptersRequestSchema,
  GenerateShardRequestSchema,
  GenerationService,
  ListModelsRequestSchema,
  ScoreImagesRequestSchema,
} from "../shared/gen/diffda/generation/v1/generation_pb.js";
import { Rng } from "../shared/random/index.js";
import { grpcCodeName, Health, methodPath, ServingStatus } from "../shared/rpc/index.js";
import { sha256Hex } from "../shared/service/wire/index.js";
import { pngTestImage } from "../shared/testing/png-image.js";
import { type ServiceProcess, startService } from "../shared/testing/service-process.js";
import { classifierSpec, labelledSet } from "./support/classes.js";
import { connect, type Init } from "./support/clients.js";
import { TINY, type TinyModels, tinyInversionSpec, tinyModels } from "./support/models.js";

/** The services' receive limit in this suite: small, so that the oversized payload stays cheap. */
const MAX_RECEIVE = 4 << 20;
/** An enum number no .proto declares. */
const UNKNOWN_ENUM = 999;
/** Deadline of each fuzz call. */
const CALL_DEADLINE_MS = 10_000;
/** Bound of one method's whole payload set. */
const METHOD_TIMEOUT_MS = 120_000;

// --- Raw protobuf encoding -------------------------------------------------------------------------

const VARINT = 0;
const FIXED64 = 1;
const LEN = 2;
const START_GROUP = 3;
const END_GROUP = 4;
const FIXED32 = 5;

function varint(value: number | bigint): Buffer {
  let v = BigInt.asUintN(64, BigInt(value));
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return Buffer.from(out);
}

function tag(fieldNo: number, wireType: number): Buffer {
  return varint((fieldNo << 3) | wireType);
}

function lenField(fieldNo: number, content: Buffer): Buffer {
  return Buffer.concat([tag(fieldNo, LEN), varint(content.length), content]);
}

/** `inner` (the body of the innermost message of `path`) wrapped in the LEN envelopes of `path`. */
function wrap(path: readonly DescField[], inner: Buffer): Buffer {
  let body = inner;
  for (let i = path.length - 1; i >= 0; i--) body = lenField((path[i] as DescField).number, body);
  return body;
}

/** The wire type protobuf expects for one value of `field`. */
function wireTypeOf(field: DescField): number {
  if (field.fieldKind === "message" || field.fieldKind === "map") return LEN;
  if (field.fieldKind === "list" && field.listKind === "message") return LEN;
  if (field.fieldKind === "enum" || (field.fieldKind === "list" && field.listKind === "enum")) return VARINT;
  const scalar = field.scalar;
  switch (scalar) {
    case ScalarType.STRING:
    case ScalarType.BYTES:
      return LEN;
    case ScalarType.DOUBLE:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return FIXED64;
    case ScalarType.FLOAT:
    case ScalarType.FIXED32:
    case ScalarType.SFIXED32:
      return FIXED32;
    default:
      return VARINT;
  }
}

/** A value of the wrong wire type for `field` (a packed list accepts LEN, so it gets a fixed32 instead). */
function wrongWireValue(field: DescField): Buffer {
  const expected = wireTypeOf(field);
  if (expected === LEN) return Buffer.concat([tag(field.number, FIXED32), Buffer.from([1, 2, 3, 4])]);
  if (field.fieldKind === "list") return Buffer.concat([tag(field.number, START_GROUP)]);
  return lenField(field.number, Buffer.from([0xff, 0xff, 0xff]));
}

interface FieldPath {
  readonly path: DescField[];
  readonly field: DescField;
}

/** Paths (through singular and repeated message fields, at most `depth` deep) to the fields `accept` picks. */
function findFields(schema: DescMessage, accept: (f: DescField) => boolean, depth = 4): FieldPath[] {
  const found: FieldPath[] = [];
  const queue: { schema: DescMessage; path: DescField[] }[] = [{ schema, path: [] }];
  while (queue.length > 0) {
    const { schema: s, path } = queue.shift() as { schema: DescMessage; path: DescField[] };
    for (const field of s.fields) {
      if (accept(field)) found.push({ path, field });
      const child =
        field.fieldKind === "message"
          ? field.message
          : field.fieldKind === "list"
            ? field.message
            : undefined;
      if (child && path.length < depth && !path.some((p) => p === field)) {
        queue.push({ schema: child, path: [...path, field] });
      }
    }
  }
  return found;
}

const isString = (f: DescField) =>
  (f.fieldKind === "scalar" || (f.fieldKind === "list" && f.listKind === "scalar")) &&
  f.scalar === ScalarType.STRING;

// --- Payloads ------------------------------------------------------------------------------------

/** One fuzz case: the messages sent on the call (exactly one unless the method streams requests). */
interface Payload {
  readonly name: string;
  readonly messages: Buffer[];
}

/** The wire-level payloads of `schema`, each a single message; `valid` is a well-formed instance. */
function wirePayloads(schema: DescMessage, valid: Buffer, seed: number): Payload[] {
  const rng = new Rng(seed, 0);
  const random = (n: number) => Buffer.from(Array.from({ length: n }, () => rng.nextInt(256)));
  const out: Payload[] = [{ name: "empty", messages: [Buffer.alloc(0)] }];
  const one = (name: string, message: Buffer) => out.push({ name, messages: [message] });

  for (const size of [1, 3, 16, 100, 1000, 20_000]) one(`random ${size} bytes`, random(size));
  for (const cut of [1, Math.floor(valid.length / 3), Math.floor(valid.length / 2), valid.length - 1]) {
    one(`valid message truncated to ${cut} of ${valid.length} bytes`, valid.subarray(0, cut));
  }
  for (const field of schema.fields) one(`field ${field.name} with a wrong wire type`, wrongWireValue(field));
  one("reserved wire types 6 and 7", Buffer.concat([tag(1, 6), tag(2, 7), Buffer.from([0, 0])]));
  one("field number 0", Buffer.concat([tag(0, VARINT), Buffer.from([1])]));
  one("tag varint that overflows 64 bits", Buffer.from([...Array(11).fill(0xff), 0x01]));

  const firstVarint = schema.fields.find((f) => wireTypeOf(f) === VARINT);
  // A message without fields (ListModelsRequest) still gets the damage, on an unknown field number 1.
  const firstLen = schema.fields.find((f) => wireTypeOf(f) === LEN) ?? schema.fields[0];
  const lenName = firstLen?.name ?? "1";
  const lenNumber = firstLen?.number ?? 1;
  one(
    `field ${firstVarint?.name ?? 1} varint that overflows 64 bits`,
    Buffer.concat([tag(firstVarint?.number ?? 1, VARINT), Buffer.from([...Array(11).fill(0xff), 0x01])]),
  );
  one(
    `field ${lenName} length past the end of the buffer`,
    Buffer.concat([tag(lenNumber, LEN), varint(1000), Buffer.from([1, 2, 3])]),
  );
  one(
    `field ${lenName} length 2^32-1`,
    Buffer.concat([tag(lenNumber, LEN), varint(0xffffffff), Buffer.from([1, 2, 3])]),
  );
  const depth = 50_000;
  one(
    `groups nested ${depth} deep`,
    Buffer.concat([...Array(depth).fill(tag(99, START_GROUP)), ...Array(depth).fill(tag(99, END_GROUP))]),
  );
  one("unterminated group", Buffer.concat([tag(99, START_GROUP), tag(98, VARINT), Buffer.from([1])]));

  const repeated = findFields(schema, (f) => f.fieldKind === "list")[0];
  if (repeated) {
    const n = 100_000;
    const { field } = repeated;
    const entries =
      field.fieldKind === "list" && (field.listKind === "message" || wireTypeOf(field) === LEN)
        ? Buffer.concat(Array(n).fill(Buffer.concat([tag(field.number, LEN), varint(0)])))
        : lenField(field.number, Buffer.alloc(n, 1));
    // Concatenated messages merge and repeated fields append: the valid request plus the flood.
    one(
      `valid message plus ${n} entries in ${[...repeated.path, field].map((f) => f.name).join(".")}`,
      Buffer.concat([valid, wrap(repeated.path, entries)]),
    );
  }
  for (const { path, field } of findFields(schema, isString).slice(0, 3)) {
    const bad = lenField(field.number, Buffer.from([0x61, 0xff, 0xfe, 0xc3, 0x28, 0xed, 0xa0, 0x80]));
    one(`invalid UTF-8 in ${[...path, field].map((f) => f.name).join(".")}`, wrap(path, bad));
  }
  one(
    `message of ${MAX_RECEIVE + 1024} bytes, over the limit`,
    lenField(99, Buffer.alloc(MAX_RECEIVE + 1024)),
  );
  return out;
}

/** Everything needed to fuzz one method. */
interface Target {
  readonly service: () => ServiceProcess;
  readonly serviceDesc: DescService;
  readonly method: DescMethod;
  /** A well-formed request (for streaming requests: the whole valid sequence, header first). */
  readonly valid: Buffer[];
  /** Well-formed requests with nonsense values. */
  readonly semantic: { name: string; messages: Buffer[] }[];
}

function encoder<D extends DescMessage>(schema: D) {
  return (init: Parameters<typeof create<D>>[1]): Buffer =>
    Buffer.from(toBinary(schema, create(schema, init)));
}

function payloadsOf(target: Target, seed: number): Payload[] {
  const streamsRequests =
    target.method.methodKind === "client_streaming" || target.method.methodKind === "bidi_streaming";
  const first = target.valid[0] as Buffer;
  const wire = wirePayloads(target.method.input, first, seed);
  const out = [...wire, ...target.semantic];
  if (streamsRequests) {
    out.push({ name: "no messages at all", messages: [] });
    out.push({ name: "the header twice", messages: [first, first, ...target.valid.slice(1)] });
    for (const p of wire.filter((w) => (w.messages[0]?.length ?? 0) > 0)) {
      out.push({ name: `valid header, then ${p.name}`, messages: [first, ...p.messages] });
    }
  }
  return out;
}

// --- Raw calls -----------------------------------------------------------------------------------

const identity = (b: Buffer) => b;

/** How a call ended. */
interface Outcome {
  readonly code: number;
  readonly details: string;
}

/** Sends `messages` on one call of `method` and resolves with the status it ends with. */
function rawCall(client: GrpcClient, method: DescMethod, messages: Buffer[]): Promise<Outcome> {
  const path = methodPath(method);
  const options = { deadline: Date.now() + CALL_DEADLINE_MS };
  return new Promise((resolve) => {
    const done = (error: ServiceError | null) =>
      resolve(error ? { code: error.code, details: error.details } : { code: 0, details: "" });
    switch (method.methodKind) {
      case "unary":
        client.makeUnaryRequest(
          path,
          identity,
          identity,
          messages[0] as Buffer,
          new Metadata(),
          options,
          done,
        );
        return;
      case "server_streaming": {
        const call = client.makeServerStreamRequest(
          path,
          identity,
          identity,
          messages[0] as Buffer,
          new Metadata(),
          options,
        );
        call.on("data", () => {});
        call.on("error", () => {});
        call.on("status", (s) => resolve({ code: s.code, details: s.details }));
        return;
      }
      case "client_streaming": {
        const call = client.makeClientStreamRequest(path, identity, identity, new Metadata(), options, done);
        call.on("error", () => {});
        for (const m of messages) call.write(m);
        call.end();
        return;
      }
      case "bidi_streaming": {
        const call = client.makeBidiStreamRequest(path, identity, identity, new Metadata(), options);
        call.on("data", () => {});
        call.on("error", () => {});
        call.on("status", (s) => resolve({ code: s.code, details: s.details }));
        for (const m of messages) call.write(m);
        call.end();
        return;
      }
    }
  });
}

// --- The suite -----------------------------------------------------------------------------------

describe("gRPC fuzz: malformed payloads to every method of the compute services", () => {
  let models: TinyModels;
  const services = new Map<string, ServiceProcess>();
  const clients: GrpcClient[] = [];
  const closers: (() => void)[] = [];
  const counts = new Map<string, number>();
  let payloadTotal = 0;
  const methodsFuzzed = new Set<string>();
  const targets: Target[] = [];

  before(async () => {
    models = await tinyModels();
    const env = { MODEL_DIR: models.root, GRPC_MAX_RECEIVE_MESSAGE_BYTES: String(MAX_RECEIVE) };
    const started = await Promise.all(
      ["finetune", "generation", "classifier"].map((name) => startService(name, env)),
    );
    await Promise.all(started.map((s) => s.ready()));
    for (const s of started) services.set(s.name, s);

    const png = await Promise.all([0, 1].map((i) => pngTestImage(32, i)));
    const images = png.map((image, i) => ({ image, label: i, sourceIndex: i }));
    const garbage = Buffer.from("not a checkpoint at all");
    const checkpoint = { name: "model.onnx", content: garbage, sha256: sha256Hex(garbage) };
    const real = await labelledSet(1, 1);
    const by = (name: string) => () => services.get(name) as ServiceProcess;
    // Images whose declared shape, format or bytes are nonsense (each replaces the whole image list).
    const ok = png[0] as (typeof png)[number];
    const tiny = Buffer.alloc(10, 7);
    const badImages: { name: string; image: Init<typeof ImageDataSchema> }[] = [
      { name: "PNG of garbage bytes", image: { ...ok, data: garbage, sha256: sha256Hex(garbage) } },
      { name: "image sha256 mismatch", image: { ...ok, sha256: "0".repeat(64) } },
      { name: "image format 999", image: { ...ok, format: UNKNOWN_ENUM as ImageFormat } },
      { name: "PNG shape disagrees with header", image: { ...ok, width: 7, height: 9000, channels: 4 } },
      // Allowed by image.proto (channels is informative for encoded files): this one may succeed.
      { name: "PNG with channels 0", image: { ...ok, channels: 0 } },
      {
        name: "raw image with 2 channels",
        image: {
          format: ImageFormat.RAW_U8,
          data: Buffer.alloc(32 * 32 * 2),
          width: 32,
          height: 32,
          channels: 2,
        },
      },
      {
        name: "raw image 2^32-1 square, 10 bytes",
        image: { format: ImageFormat.RAW_U8, data: tiny, width: 0xffffffff, height: 0xffffffff, channels: 3 },
      },
      {
        name: "raw image 32x32x3, 10 bytes",
        image: { format: ImageFormat.RAW_U8, data: tiny, width: 32, height: 32, channels: 3 },
      },
      {
        name: "raw image 0x0",
        image: { format: ImageFormat.RAW_U8, data: Buffer.alloc(0), width: 0, height: 0 },
      },
    ];
    const withBad = <T extends { label: number }>(list: readonly T[], image: Init<typeof ImageDataSchema>) =>
      list.map((i) => ({ ...i, image }));

    // GenerationService
    // ListModels takes no fields: only the wire-level damage of payloadsOf applies.
    targets.push({
      service: by("generation"),
      serviceDesc: GenerationService,
      method: GenerationService.method.listModels,
      valid: [encoder(ListModelsRequestSchema)({})],
      semantic: [],
    });
    // CheckAdapters: a valid request names the model and no adapter (nothing to refuse).
    const check = encoder(CheckAdaptersRequestSchema);
    targets.push({
      service: by("generation"),
      serviceDesc: GenerationService,
      method: GenerationService.method.checkAdapters,
      valid: [check({ model: { baseModel: { name: TINY } } })],
      semantic: [
        { name: "unknown base model", messages: [check({ model: { baseModel: { name: "no-such" } } })] },
        { name: "no model", messages: [check({})] },
        {
          name: "an adapter that is not safetensors",
          messages: [
            check({
              model: {
                baseModel: { name: TINY },
                adapters: [{ kind: 2, file: { name: "x.safetensors", content: new Uint8Array([1, 2, 3]) } }],
              },
            }),
          ],
        },
        {
          name: "an adapter of unspecified kind",
          messages: [check({ model: { baseModel: { name: TINY }, adapters: [{ kind: 0 }] } })],
        },
      ],
    });
    // ScoreImages: the tiny model's CLIP scores two labelled images.
    const score = encoder(ScoreImagesRequestSchema);
    const scoring = {
      jobId: "fuzz",
      model: { name: TINY },
      classes: [{ name: "cat" }, { name: "dog" }],
      images,
    };
    targets.push({
      service: by("generation"),
      serviceDesc: GenerationService,
      method: GenerationService.method.scoreImages,
      valid: [score(scoring)],
      semantic: [
        { name: "unknown base model", messages: [score({ ...scoring, model: { name: "no-such" } })] },
        {
          name: "label past the classes",
          messages: [score({ ...scoring, images: [{ ...images[0], label: 9 }] })],
        },
        { name: "source weight 7", messages: [score({ ...scoring, sourceWeight: 7 })] },
        { name: "source weight without sources", messages: [score({ ...scoring, sourceWeight: 0.5 })] },
        { name: "source weight NaN", messages: [score({ ...scoring, sourceWeight: Number.NaN })] },
        ...badImages.map(({ name, image }) => ({
          name: `ScoreImages: ${name}`,
          messages: [score({ ...scoring, images: withBad(images, image) })],
        })),
      ],
    });
    const gen = encoder(GenerateShardRequestSchema);
    const generate = {
      jobId: "fuzz",
      count: 2,
      seed: 1n,
      samplesPerSource: 1,
      model: { baseModel: { name: TINY } },
      classes: [{ name: "cat" }, { name: "dog" }],
      sources: images,
      sampling: { numInferenceSteps: 2 },
      method: { case: "textToImage" as const, value: {} },
    };
    targets.push({
      service: by("generation"),
      serviceDesc: GenerationService,
      method: GenerationService.method.generateShard,
      valid: [gen(generate)],
      semantic: [
        {
          name: "unknown base model",
          messages: [gen({ ...generate, model: { baseModel: { name: "no-such" } } })],
        },
        { name: "no model", messages: [gen({ ...generate, model: undefined })] },
        { name: "no classes", messages: [gen({ ...generate, classes: [] })] },
        { name: "no method", messages: [gen({ ...generate, method: { case: undefined } })] },
        { name: "count 2^32-1", messages: [gen({ ...generate, count: 0xffffffff })] },
        { name: "samples per source 0", messages: [gen({ ...generate, samplesPerSource: 0 })] },
        {
          name: "sample index overflow",
          messages: [gen({ ...generate, firstSampleIndex: 0xfffffff0, count: 100 })],
        },
        {
          name: "NaN guidance, huge size",
          messages: [
            gen({ ...generate, sampling: { guidanceScale: Number.NaN, width: 0xffffffff, height: 1 } }),
          ],
        },
        {
          name: "unknown scheduler",
          messages: [gen({ ...generate, sampling: { scheduler: "warp-drive" } })],
        },
        {
          name: "source label out of range, undecodable image",
          messages: [
            gen({
              ...generate,
              method: { case: "img2imgIntraClass", value: { strength: -3 } },
              sources: [
                { image: { format: 1, data: garbage, width: 32, height: 32, channels: 3 }, label: 99 },
              ],
            }),
          ],
        },
        ...badImages.map((b) => ({
          name: `img2img source: ${b.name}`,
          messages: [
            gen({
              ...generate,
              method: { case: "img2imgIntraClass", value: { strength: 0.5 } },
              sources: withBad(images, b.image),
            }),
          ],
        })),
        {
          name: "adapter with garbage file",
          messages: [
            gen({
              ...generate,
              model: {
                baseModel: { name: TINY },
                adapters: [{ kind: 1, file: checkpoint, tokens: ["<x>"] }],
              },
            }),
          ],
        },
      ],
    });

    // FinetuneService
    const spec: Init<typeof FinetuneSpecSchema> = tinyInversionSpec("fuzz", {
      steps: 2,
      batchSize: 1,
      seed: 1n,
    });
    const ft = encoder(FinetuneRequestSchema);
    const ftUp = encoder(FinetuneUploadRequestSchema);
    const ftHeader = (s: typeof spec, imageCount: number) =>
      ftUp({ payload: { case: "header", value: { spec: s, imageCount } } });
    const ftChunk = (offset: number, list: typeof images) =>
      ftUp({ payload: { case: "chunk", value: { offset, images: list } } });
    const badSpecs: { name: string; spec: Init<typeof FinetuneSpecSchema> }[] = [
      { name: "unknown base model", spec: { ...spec, baseModel: { name: "no-such" } } },
      { name: "method 999", spec: { ...spec, method: UNKNOWN_ENUM as FinetuneMethod } },
      { name: "no classes", spec: { ...spec, classes: [] } },
      {
        name: "batch size 2^32-1, NaN learning rate",
        spec: {
          ...spec,
          hyperparameters: {
            batchSize: 0xffffffff,
            textualInversion: { maxTrainSteps: 0xffffffff, learningRate: Number.NaN },
          },
        },
      },
      { name: "empty class names and tokens", spec: { ...spec, classes: [{ name: "", token: "" }] } },
    ];
    targets.push({
      service: by("finetune"),
      serviceDesc: FinetuneService,
      method: FinetuneService.method.finetune,
      valid: [ft({ spec, images })],
      semantic: [
        ...badSpecs.map((b) => ({ name: b.name, messages: [ft({ spec: b.spec, images })] })),
        { name: "no spec", messages: [ft({ images })] },
        ...badImages.map((b) => ({
          name: b.name,
          messages: [ft({ spec, images: withBad(images, b.image) })],
        })),
        {
          name: "labels out of range",
          messages: [ft({ spec, images: images.map((i) => ({ ...i, label: 77 })) })],
        },
      ],
    });
    targets.push({
      service: by("finetune"),
      serviceDesc: FinetuneService,
      method: FinetuneService.method.finetuneUpload,
      valid: [ftHeader(spec, 2), ftChunk(0, images)],
      semantic: [
        ...badSpecs.map((b) => ({ name: b.name, messages: [ftHeader(b.spec, 2), ftChunk(0, images)] })),
        { name: "image count 2^32-1", messages: [ftHeader(spec, 0xffffffff), ftChunk(0, images)] },
        { name: "chunk before header", messages: [ftChunk(0, images), ftHeader(spec, 2)] },
        { name: "chunk offset 2^32-1", messages: [ftHeader(spec, 2), ftChunk(0xffffffff, images)] },
        { name: "more images than announced", messages: [ftHeader(spec, 1), ftChunk(0, images)] },
        ...badImages.map((b) => ({
          name: b.name,
          messages: [ftHeader(spec, 2), ftChunk(0, withBad(images, b.image))],
        })),
        { name: "empty payload", messages: [ftUp({})] },
      ],
    });

    // ClassifierService
    const tspec: Init<typeof TrainSpecSchema> = classifierSpec("fuzz", { epochs: 1, batchSize: 3 });
    const tr = encoder(TrainRequestSchema);
    const trUp = encoder(TrainUploadRequestSchema);
    const ev = encoder(EvaluateRequestSchema);
    const evUp = encoder(EvaluateUploadRequestSchema);
    const trHeader = (s: typeof tspec, realCount: number, syntheticCount = 0) =>
      trUp({ payload: { case: "header", value: { spec: s, realCount, syntheticCount } } });
    const trChunk = (offset: number, list: typeof real) =>
      trUp({ payload: { case: "realChunk", value: { offset, images: list } } });
    const badTrainSpecs: { name: string; spec: Init<typeof TrainSpecSchema> }[] = [
      { name: "unknown architecture", spec: { ...tspec, architecture: "no-such" } },
      { name: "no classes", spec: { ...tspec, classes: [] } },
      { name: "image size 0", spec: { ...tspec, imageSize: 0 } },
      { name: "image size 2^32-1", spec: { ...tspec, imageSize: 0xffffffff } },
      {
        name: "zero epochs, batch 2^32-1, NaN rate, optimizer 999",
        spec: {
          ...tspec,
          hyperparameters: {
            epochs: 0,
            batchSize: 0xffffffff,
            learningRate: Number.NaN,
            optimizer: UNKNOWN_ENUM as Optimizer,
          },
        },
      },
      {
        name: "utilization 999, replace probability -1",
        spec: { ...tspec, utilization: { mode: UNKNOWN_ENUM as UtilizationMode, replaceProbability: -1 } },
      },
      {
        name: "augmentation 999",
        spec: { ...tspec, traditionalAugmentation: UNKNOWN_ENUM as TraditionalAugmentation },
      },
    ];
    targets.push({
      service: by("classifier"),
      serviceDesc: ClassifierService,
      method: ClassifierService.method.train,
      valid: [tr({ spec: tspec, realImages: real })],
      semantic: [
        ...badTrainSpecs.map((b) => ({ name: b.name, messages: [tr({ spec: b.spec, realImages: real })] })),
        { name: "no spec", messages: [tr({ realImages: real })] },
        ...badImages.map((b) => ({
          name: b.name,
          messages: [tr({ spec: tspec, realImages: withBad(real, b.image) })],
        })),
        { name: "no images", messages: [tr({ spec: tspec })] },
        {
          name: "labels out of range, bad soft labels",
          messages: [
            tr({
              spec: tspec,
              realImages: real.map((i) => ({ ...i, label: 9, softLabel: [Number.NaN, -1] })),
            }),
          ],
        },
      ],
    });
    targets.push({
      service: by("classifier"),
      serviceDesc: ClassifierService,
      method: ClassifierService.method.trainUpload,
      valid: [trHeader(tspec, real.length), trChunk(0, real)],
      semantic: [
        ...badTrainSpecs.map((b) => ({
          name: b.name,
          messages: [trHeader(b.spec, real.length), trChunk(0, real)],
        })),
        { name: "real count 2^32-1", messages: [trHeader(tspec, 0xffffffff), trChunk(0, real)] },
        ...badImages.map((b) => ({
          name: b.name,
          messages: [trHeader(tspec, real.length), trChunk(0, withBad(real, b.image))],
        })),
        {
          name: "synthetic chunk never announced",
          messages: [
            trHeader(tspec, real.length),
            trChunk(0, real),
            trUp({ payload: { case: "syntheticChunk", value: { images: real } } }),
          ],
        },
        { name: "chunk offset 2^32-1", messages: [trHeader(tspec, real.length), trChunk(0xffffffff, real)] },
        { name: "chunk before header", messages: [trChunk(0, real), trHeader(tspec, real.length)] },
        { name: "empty payload", messages: [trUp({})] },
      ],
    });
    // A real checkpoint, so that well-formed evaluation requests get past loading it.
    const trained = connect(ClassifierService, by("classifier")().address);
    closers.push(trained.channel.close);
    let realCheckpoint: Init<typeof ArtifactSchema> | undefined;
    for await (const r of trained.client.train({ spec: tspec, realImages: real })) {
      const c = r.event.case === "result" ? r.event.value.checkpoint : undefined;
      if (c) realCheckpoint = { name: c.name, mediaType: c.mediaType, content: c.content, sha256: c.sha256 };
    }
    assert.ok(realCheckpoint, "the classifier trains the checkpoint the evaluation cases use");
    const espec = { jobId: "fuzz", checkpoint: realCheckpoint };
    const evHeader = (s: object, imageCount: number) =>
      evUp({ payload: { case: "header", value: { spec: s, imageCount } } });
    const evChunk = (offset: number, list: typeof real) =>
      evUp({ payload: { case: "chunk", value: { offset, images: list } } });
    const badEvalSpecs = [
      { name: "garbage checkpoint", spec: { ...espec, checkpoint } },
      { name: "no checkpoint", spec: { jobId: "fuzz" } },
      { name: "checkpoint sha256 mismatch", spec: { checkpoint: { ...checkpoint, sha256: "00" } } },
      { name: "batch size 0", spec: { ...espec, batchSize: 0 } },
      { name: "batch size 2^32-1", spec: { ...espec, batchSize: 0xffffffff } },
    ];
    targets.push({
      service: by("classifier"),
      serviceDesc: ClassifierService,
      method: ClassifierService.method.evaluate,
      valid: [ev({ spec: espec, images: real })],
      semantic: [
        ...badEvalSpecs.map((b) => ({ name: b.name, messages: [ev({ spec: b.spec, images: real })] })),
        { name: "no spec", messages: [ev({ images: real })] },
        { name: "no images", messages: [ev({ spec: espec })] },
        ...badImages.map((b) => ({
          name: b.name,
          messages: [ev({ spec: espec, images: withBad(real, b.image) })],
        })),
        {
          name: "labels out of range",
          messages: [ev({ spec: espec, images: real.map((i) => ({ ...i, label: 0xffffffff })) })],
        },
      ],
    });
    targets.push({
      service: by("classifier"),
      serviceDesc: ClassifierService,
      method: ClassifierService.method.evaluateUpload,
      valid: [evHeader(espec, real.length), evChunk(0, real)],
      semantic: [
        ...badEvalSpecs.map((b) => ({
          name: b.name,
          messages: [evHeader(b.spec, real.length), evChunk(0, real)],
        })),
        { name: "image count 2^32-1", messages: [evHeader(espec, 0xffffffff), evChunk(0, real)] },
        { name: "chunk before header", messages: [evChunk(0, real), evHeader(espec, real.length)] },
        ...badImages.map((b) => ({
          name: b.name,
          messages: [evHeader(espec, real.length), evChunk(0, withBad(real, b.image))],
        })),
        {
          name: "fewer images than announced",
          messages: [evHeader(espec, real.length + 5), evChunk(0, real)],
        },
        { name: "empty payload", messages: [evUp({})] },
      ],
    });

    for (const s of started) {
      const raw = new GrpcClient(s.address, credentials.createInsecure(), {
        "grpc.max_send_message_length": -1,
        "grpc.max_receive_message_length": -1,
      });
      clients.push(raw);
    }
  });

  after(async () => {
    for (const c of clients) c.close();
    for (const close of closers) close();
    const codes = await Promise.all([...services.values()].map((s) => s.stop()));
    await models?.remove();
    const byStatus = [...counts.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([name, n]) => `${name}: ${n}`)
      .join(", ");
    const line = `gRPC fuzz: ${payloadTotal} payloads over ${methodsFuzzed.size} methods; by status ${byStatus}`;
    console.log(line);
    assert.deepEqual(codes, [0, 0, 0], "every service exits cleanly after the fuzzing");
  });

  it("covers every method of the three services", () => {
    const all = [FinetuneService, GenerationService, ClassifierService].flatMap((s) =>
      s.methods.map((m) => methodPath(m)),
    );
    assert.deepEqual(targets.map((t) => methodPath(t.method)).sort(), all.sort());
  });

  for (const [index, name] of [
    "FinetuneService/Finetune",
    "FinetuneService/FinetuneUpload",
    "GenerationService/GenerateShard",
    "GenerationService/ListModels",
    "GenerationService/CheckAdapters",
    "GenerationService/ScoreImages",
    "ClassifierService/Train",
    "ClassifierService/TrainUpload",
    "ClassifierService/Evaluate",
    "ClassifierService/EvaluateUpload",
  ].entries()) {
    it(`${name}: no payload ends INTERNAL or UNKNOWN, and the service stays up and SERVING`, {
      timeout: METHOD_TIMEOUT_MS,
    }, async (t) => {
      const target = targets.find((x) => methodPath(x.method).endsWith(`.${name}`));
      assert.ok(target, name);
      const service = target.service();
      const client = clients[[...services.values()].indexOf(service)] as GrpcClient;
      const health = connect(Health, service.address, CALL_DEADLINE_MS);
      closers.push(health.channel.close);
      const local = new Map<string, number>();
      const failures: string[] = [];
      const payloads = payloadsOf(target, 1000 + index);
      for (const payload of payloads) {
        const { code, details } = await rawCall(client, target.method, payload.messages);
        const codeName = grpcCodeName(code);
        local.set(codeName, (local.get(codeName) ?? 0) + 1);
        counts.set(codeName, (counts.get(codeName) ?? 0) + 1);
        payloadTotal++;
        if (code === 13 || code === 2) failures.push(`${payload.name}: ${codeName} ${details}`);
        assert.deepEqual(
          [service.child.exitCode, service.child.signalCode],
          [null, null],
          `${service.name} exited after "${payload.name}": ${service.stderr().slice(-2000)}`,
        );
        const { status } = await health.client.check({ service: target.serviceDesc.typeName });
        assert.equal(status, ServingStatus.SERVING, `${service.name} not SERVING after "${payload.name}"`);
      }
      methodsFuzzed.add(name);
      t.diagnostic(
        `${name}: ${payloads.length} payloads; ${[...local].map(([k, v]) => `${k}: ${v}`).join(", ")}`,
      );
      assert.deepEqual(failures, [], `${name}: payloads answered INTERNAL/UNKNOWN`);
    });
  }
});
