import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { EchoService } from "../gen/diffda/testing/v1/echo_pb.js";
import { RpcError } from "./error.js";
import { limitOptions } from "./limits.js";
import { type Served, serve } from "./test-server.js";

const KiB = 1024;

describe("message size limits", () => {
  let served: Served<typeof EchoService>;
  let handled = 0;
  before(async () => {
    served = await serve(
      EchoService,
      {
        echo(request) {
          handled++;
          // Answer with a payload as big as asked for (in KiB) to test the send limit.
          const size = Number(request.text || 0) * KiB;
          return { payload: size ? new Uint8Array(size) : request.payload };
        },
        async *echoServerStream() {},
        async echoClientStream() {
          return {};
        },
        async *echoBidiStream() {},
      },
      {
        server: { limits: { maxReceiveMessageBytes: 64 * KiB, maxSendMessageBytes: 128 * KiB } },
        clientLimits: { maxReceiveMessageBytes: 96 * KiB, maxSendMessageBytes: 1024 * KiB },
      },
    );
  });
  after(() => served.close());

  async function failure(promise: Promise<unknown>): Promise<RpcError> {
    const error = await promise.then(
      () => assert.fail("expected RESOURCE_EXHAUSTED"),
      (e: unknown) => e,
    );
    assert.ok(error instanceof RpcError);
    return error;
  }

  test("a message under the limits passes", async () => {
    const response = await served.client.echo({ payload: new Uint8Array(60 * KiB) });
    assert.equal(response.payload.length, 60 * KiB);
  });

  test("a request over the server's receive limit fails with RESOURCE_EXHAUSTED before the handler", async () => {
    const before = handled;
    const error = await failure(served.client.echo({ payload: new Uint8Array(65 * KiB) }));
    assert.equal(error.code, "resource_exhausted");
    assert.equal(error.grpcCode, 8);
    assert.equal(handled, before);
  });

  test("a response over the server's send limit fails with RESOURCE_EXHAUSTED", async () => {
    const error = await failure(served.client.echo({ text: "200" }));
    assert.equal(error.code, "resource_exhausted");
  });

  test("a response over the client's receive limit fails with RESOURCE_EXHAUSTED", async () => {
    const error = await failure(served.client.echo({ text: "100" }));
    assert.equal(error.code, "resource_exhausted");
  });

  test("limits must be positive integers", () => {
    assert.throws(() => limitOptions({ maxReceiveMessageBytes: 0, maxSendMessageBytes: 1 }), RangeError);
    assert.throws(() => limitOptions({ maxReceiveMessageBytes: 1.5, maxSendMessageBytes: 1 }), RangeError);
  });
});
