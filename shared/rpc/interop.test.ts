/**
 * Wire-format proof: @connectrpc/connect-node's gRPC transport (an independent HTTP/2 gRPC client) calls
 * diffda services served by the grpc-js adapter and gets the same answers as diffda's own client,
 * including the status code, message and the ErrorInfo carrying the catalog code.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { equals, type MessageShape } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient as createConnectClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import {
  ClassifierService,
  EvaluateResponseSchema,
  type EvaluateUploadRequestSchema,
} from "../gen/diffda/classifier/v1/classifier_pb.js";
import { ImageFormat } from "../gen/diffda/common/v1/image_pb.js";
import { GenerateShardResponseSchema, GenerationService } from "../gen/diffda/generation/v1/generation_pb.js";
import { ErrorInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import { createChannel, createClient } from "./client.js";
import { RpcError } from "./error.js";
import { createRpcServer, type RpcServer } from "./server.js";

const limits = { maxReceiveMessageBytes: 1 << 20, maxSendMessageBytes: 1 << 20 };

/** A fake generation service: progress, then `count` tiny "images", then completion. */
const generation = {
  async *generateShard(request: MessageShape<typeof GenerationService.method.generateShard.input>) {
    if (request.count === 0) {
      throw new RpcError("invalid_field", "count must be at least 1", { details: { field: "count" } });
    }
    yield {
      event: { case: "progress" as const, value: { stage: "generate", step: 0, totalSteps: request.count } },
    };
    for (let i = 0; i < request.count; i++) {
      const sampleIndex = request.firstSampleIndex + i;
      yield {
        event: {
          case: "image" as const,
          value: {
            sampleIndex,
            seed: request.seed,
            prompt: "a photo of a <t-shirt>",
            sample: {
              image: {
                format: ImageFormat.RAW_U8,
                data: new Uint8Array([sampleIndex % 256]),
                width: 1,
                height: 1,
                channels: 1,
              },
              label: 3,
              sourceIndex: Math.floor(sampleIndex / request.samplesPerSource),
            },
          },
        },
      };
    }
    yield {
      event: { case: "completed" as const, value: { imageCount: request.count, durationSeconds: 0.5 } },
    };
  },
  async listModels() {
    return { models: [] };
  },
  async checkAdapters() {
    return {};
  },
  async scoreImages() {
    return { scores: [] };
  },
};

/** A fake classifier: Evaluate counts labels; the other methods are not needed here. */
const classifier = {
  evaluate(request: MessageShape<typeof ClassifierService.method.evaluate.input>) {
    const n = request.images.length;
    return {
      metrics: {
        sampleCount: n,
        top1Accuracy: 0.75,
        perClassAccuracy: [1, 0.5],
        confusionMatrix: { classCount: 2, counts: [2, 0, 1, 1] },
      },
    };
  },
  async evaluateUpload(requests: AsyncIterable<MessageShape<typeof EvaluateUploadRequestSchema>>) {
    let images = 0;
    for await (const request of requests)
      if (request.payload.case === "chunk") images += request.payload.value.images.length;
    return { metrics: { sampleCount: images } };
  },
  // biome-ignore lint/correctness/useYield: not called in this test.
  async *train() {
    throw new RpcError("unimplemented");
  },
  // biome-ignore lint/correctness/useYield: not called in this test.
  async *trainUpload() {
    throw new RpcError("unimplemented");
  },
};

describe("interop with connect-node's gRPC transport", () => {
  let server: RpcServer;
  let baseUrl: string;
  let address: string;
  before(async () => {
    server = createRpcServer({ limits });
    server.register(GenerationService, generation);
    server.register(ClassifierService, classifier);
    const port = await server.listen({ host: "127.0.0.1", port: 0 });
    server.setReady();
    address = `127.0.0.1:${port}`;
    baseUrl = `http://${address}`;
  });
  after(() => server.drain(0));

  const connectTransport = () => createGrpcTransport({ baseUrl }); // gRPC over HTTP/2;
  const shard = {
    jobId: "j1",
    shardIndex: 2,
    firstSampleIndex: 10,
    count: 3,
    seed: 42n,
    samplesPerSource: 5,
  };

  test("unary: both clients decode the same Evaluate response", async () => {
    const request = { images: [{ label: 0 }, { label: 1 }, { label: 1 }, { label: 0 }] };
    const connect = await createConnectClient(ClassifierService, connectTransport()).evaluate(request);
    const channel = createChannel({ address, limits });
    try {
      const ours = await createClient(ClassifierService, channel, { timeoutMs: 5_000 }).evaluate(request);
      assert.ok(equals(EvaluateResponseSchema, connect, ours));
      assert.equal(connect.metrics?.sampleCount, 4);
      assert.deepEqual(connect.metrics?.confusionMatrix?.counts, [2, 0, 1, 1]);
    } finally {
      channel.close();
    }
  });

  test("server streaming: both clients receive the same events, uint64 seed included", async () => {
    const connect = [];
    for await (const event of createConnectClient(GenerationService, connectTransport()).generateShard(
      shard,
    )) {
      connect.push(event);
    }
    const channel = createChannel({ address, limits });
    const ours = [];
    try {
      for await (const event of createClient(GenerationService, channel, { timeoutMs: 5_000 }).generateShard(
        shard,
      )) {
        ours.push(event);
      }
    } finally {
      channel.close();
    }
    assert.equal(connect.length, 5);
    assert.equal(ours.length, connect.length);
    for (let i = 0; i < ours.length; i++)
      assert.ok(equals(GenerateShardResponseSchema, connect[i], ours[i]), `event ${i}`);
    const image = connect[1].event;
    assert.equal(image.case, "image");
    assert.equal(image.value?.sampleIndex, 10);
    assert.equal(image.value?.seed, 42n);
    assert.equal(image.value?.sample?.sourceIndex, 2);
    assert.equal(connect.at(-1)?.event.case, "completed");
  });

  test("client streaming works from connect too", async () => {
    async function* upload() {
      yield { payload: { case: "header" as const, value: { imageCount: 3 } } };
      yield {
        payload: { case: "chunk" as const, value: { offset: 0, images: [{ label: 0 }, { label: 1 }] } },
      };
      yield { payload: { case: "chunk" as const, value: { offset: 2, images: [{ label: 1 }] } } };
    }
    const response = await createConnectClient(ClassifierService, connectTransport()).evaluateUpload(
      upload(),
    );
    assert.equal(response.metrics?.sampleCount, 3);
  });

  test("errors: connect sees the gRPC code, message and ErrorInfo reason; ours the same RpcError", async () => {
    const bad = { ...shard, count: 0 };
    const connectError = await (async () => {
      for await (const _ of createConnectClient(GenerationService, connectTransport()).generateShard(bad)) {
        // no events expected
      }
    })().catch((e: unknown) => e);
    assert.ok(connectError instanceof ConnectError);
    assert.equal(connectError.code, Code.InvalidArgument);
    assert.equal(connectError.rawMessage, "count must be at least 1");
    const [info] = connectError.findDetails(ErrorInfoSchema);
    assert.equal(info?.reason, "invalid_field");
    assert.equal(info?.domain, "diffda");
    assert.deepEqual(info?.metadata, { field: "count" });

    const channel = createChannel({ address, limits });
    try {
      const ourError = await (async () => {
        for await (const _ of createClient(GenerationService, channel, { timeoutMs: 5_000 }).generateShard(
          bad,
        )) {
          // no events expected
        }
      })().catch((e: unknown) => e);
      assert.ok(ourError instanceof RpcError);
      assert.equal(ourError.code, "invalid_field");
      assert.equal(ourError.grpcCode, connectError.code);
      assert.equal(ourError.message, connectError.rawMessage);
    } finally {
      channel.close();
    }
  });
});
