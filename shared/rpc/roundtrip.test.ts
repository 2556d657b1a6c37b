import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { EchoRequestSchema, EchoService } from "../gen/diffda/testing/v1/echo_pb.js";
import { RpcError } from "./error.js";
import { type Served, serve } from "./test-server.js";

async function* texts(...values: string[]) {
  for (const text of values) yield { text };
}

describe("every RPC kind round-trips through the grpc-js adapter", () => {
  let served: Served<typeof EchoService>;
  before(async () => {
    served = await serve(EchoService, {
      echo: (request, context) => ({
        text: `${request.text}|${context.requestHeaders["x-diffda-test"] ?? ""}`,
        payload: request.payload,
      }),
      async *echoServerStream(request) {
        for (let index = 0; index < request.repeat; index++) yield { text: request.text, index };
      },
      async echoClientStream(requests) {
        const collected: string[] = [];
        for await (const request of requests) collected.push(request.text);
        return { texts: collected };
      },
      async *echoBidiStream(requests) {
        let index = 0;
        for await (const request of requests) yield { text: request.text.toUpperCase(), index: index++ };
      },
    });
  });
  after(() => served.close());

  test("unary: request fields, bytes and metadata arrive; the response is a protobuf-es message", async () => {
    const payload = new Uint8Array([0, 1, 2, 255]);
    const response = await served.client.echo(
      { text: "hi", payload },
      { headers: { "x-diffda-test": "header-value" } },
    );
    assert.equal(response.$typeName, "diffda.testing.v1.EchoResponse");
    assert.equal(response.text, "hi|header-value");
    assert.deepEqual([...response.payload], [0, 1, 2, 255]);
  });

  test("unary accepts an already created message", async () => {
    const response = await served.client.echo(create(EchoRequestSchema, { text: "made" }));
    assert.equal(response.text, "made|");
  });

  test("server streaming: every yielded message arrives in order", async () => {
    const received = [];
    for await (const message of served.client.echoServerStream({ text: "s", repeat: 5 })) {
      received.push(`${message.text}${message.index}`);
    }
    assert.deepEqual(received, ["s0", "s1", "s2", "s3", "s4"]);
  });

  test("server streaming with zero messages ends cleanly", async () => {
    const received = [];
    for await (const message of served.client.echoServerStream({ text: "s", repeat: 0 }))
      received.push(message);
    assert.equal(received.length, 0);
  });

  test("client streaming: the handler reads every request, then answers once", async () => {
    const response = await served.client.echoClientStream(texts("a", "b", "c"));
    assert.deepEqual(response.texts, ["a", "b", "c"]);
  });

  test("client streaming: many messages flow with back-pressure", async () => {
    const many = Array.from({ length: 500 }, (_, i) => `m${i}`);
    const response = await served.client.echoClientStream(texts(...many));
    assert.deepEqual(response.texts, many);
  });

  test("bidi streaming: one answer per request, in order", async () => {
    const received = [];
    for await (const message of served.client.echoBidiStream(texts("x", "y", "z"))) {
      received.push(`${message.text}${message.index}`);
    }
    assert.deepEqual(received, ["X0", "Y1", "Z2"]);
  });

  test("a request that does not decode fails with invalid_argument, not INTERNAL", async () => {
    // A well-formed EchoRequest followed by a truncated field: protobuf-es refuses it.
    const bytes = toBinary(EchoRequestSchema, create(EchoRequestSchema, { text: "ok" }));
    const broken = new Uint8Array([...bytes, 0x12, 0x05, 0x01]);
    const { makeGenericClientConstructor, credentials } = await import("@grpc/grpc-js");
    const Raw = makeGenericClientConstructor(
      {
        echo: {
          path: "/diffda.testing.v1.EchoService/Echo",
          requestStream: false,
          responseStream: false,
          requestSerialize: (value: Uint8Array) => Buffer.from(value),
          requestDeserialize: (value: Buffer) => value,
          responseSerialize: (value: Uint8Array) => Buffer.from(value),
          responseDeserialize: (value: Buffer) => value,
        },
      },
      "Raw",
    );
    const raw = new Raw(served.address, credentials.createInsecure());
    try {
      const error = await new Promise<unknown>((resolve) => {
        (raw as unknown as { echo: (r: Uint8Array, cb: (e: unknown) => void) => void }).echo(broken, resolve);
      });
      const rpcError = RpcError.from(error);
      assert.equal(rpcError.code, "invalid_argument");
      assert.match(rpcError.message, /does not decode/);
    } finally {
      raw.close();
    }
  });
});
