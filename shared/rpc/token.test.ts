/** The shared-token check over a real loopback socket: UNAUTHENTICATED with `invalid_token`, health open. */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { EchoService } from "../gen/diffda/testing/v1/echo_pb.js";
import { createChannel, createClient } from "./client.js";
import { GrpcCode } from "./codes.js";
import { RpcError } from "./error.js";
import { Health, ServingStatus } from "./health.js";
import { type Served, serve } from "./test-server.js";
import { bearerMetadata, tokenCheck } from "./token.js";

const TOKEN = "s3cret-token-0123456789";
const LIMITS = { maxReceiveMessageBytes: 1 << 20, maxSendMessageBytes: 1 << 20 };

async function refusal(call: Promise<unknown>): Promise<RpcError> {
  try {
    await call;
  } catch (error) {
    assert.ok(error instanceof RpcError, String(error));
    return error;
  }
  assert.fail("the call went through");
}

describe("a server with a shared token", () => {
  let served: Served<typeof EchoService>;
  let handled = 0;
  before(async () => {
    served = await serve(
      EchoService,
      {
        echo: (request) => {
          handled++;
          return { text: request.text };
        },
        async *echoServerStream() {},
        echoClientStream: async () => ({}),
        async *echoBidiStream() {},
      },
      { server: { authToken: TOKEN } },
    );
  });
  after(() => served.close());

  test("refuses a call without a token with UNAUTHENTICATED and invalid_token", async () => {
    const error = await refusal(served.client.echo({ text: "x" }));
    assert.deepEqual([error.code, error.grpcCode], ["invalid_token", GrpcCode.UNAUTHENTICATED]);
    assert.match(error.message, /no `authorization: Bearer/);
    assert.equal(handled, 0, "the handler never ran");
  });

  test("refuses a wrong token, a token of another length, and other schemes", async () => {
    for (const authorization of [
      `Bearer ${TOKEN.slice(0, -1)}x`,
      `Bearer ${TOKEN}${TOKEN}`,
      `Basic ${TOKEN}`,
      TOKEN,
    ]) {
      const error = await refusal(served.client.echo({ text: "x" }, { headers: { authorization } }));
      assert.equal(error.code, "invalid_token", authorization);
      assert.ok(!error.message.includes(TOKEN), "the message never echoes the token");
    }
    assert.equal(handled, 0);
  });

  test("accepts the right token, from the channel's metadata or a call's headers", async () => {
    const channel = createChannel({
      address: served.address,
      limits: LIMITS,
      metadata: bearerMetadata(TOKEN),
    });
    try {
      const client = createClient(EchoService, channel, { timeoutMs: 5_000 });
      assert.equal((await client.echo({ text: "ok" })).text, "ok");
    } finally {
      channel.close();
    }
    const headers = { authorization: `bearer  ${TOKEN}` };
    assert.equal((await served.client.echo({ text: "ok2" }, { headers })).text, "ok2");
    assert.equal(handled, 2);
  });

  test("health stays open without a token (kubelet probes send none)", async () => {
    const health = createClient(Health, served.channel, { timeoutMs: 5_000 });
    assert.equal((await health.check({ service: "" })).status, ServingStatus.SERVING);
  });
});

describe("tokenCheck", () => {
  test("refuses an empty configured token", () => {
    assert.throws(() => tokenCheck(""), RangeError);
  });
  test("refuses values that are not strings", () => {
    const check = tokenCheck(TOKEN);
    assert.equal(check(undefined)?.code, "invalid_token");
    assert.equal(check(Buffer.from(`Bearer ${TOKEN}`))?.code, "invalid_token");
    assert.equal(check(`Bearer ${TOKEN}`), undefined);
  });
});
