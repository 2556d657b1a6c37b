import assert from "node:assert/strict";
import { test } from "node:test";
import { EchoService } from "../gen/diffda/testing/v1/echo_pb.js";
import { createClient } from "./client.js";
import { RpcError } from "./error.js";
import { Health, ServingStatus } from "./health.js";
import { serve } from "./test-server.js";

const echo = {
  echo: () => ({}),
  async *echoServerStream() {},
  echoClientStream: async () => ({}),
  async *echoBidiStream() {},
};

test("Check: NOT_SERVING until the process says ready, then SERVING; unknown services are NOT_FOUND", async () => {
  const served = await serve(EchoService, echo, { ready: false });
  try {
    const health = createClient(Health, served.channel, { timeoutMs: 2_000 });
    assert.equal((await health.check({ service: "" })).status, ServingStatus.NOT_SERVING);
    assert.equal((await health.check({ service: EchoService.typeName })).status, ServingStatus.NOT_SERVING);
    served.server.setReady();
    assert.equal((await health.check({ service: "" })).status, ServingStatus.SERVING);
    assert.equal(
      (await health.check({ service: "diffda.testing.v1.EchoService" })).status,
      ServingStatus.SERVING,
    );
    const error = await health.check({ service: "diffda.nope.v1.NopeService" }).catch((e: unknown) => e);
    assert.ok(error instanceof RpcError);
    assert.equal(error.code, "not_found");
  } finally {
    await served.close();
  }
});

test("Watch: streams the current status, each change, and NOT_SERVING on drain, then ends", async () => {
  const served = await serve(EchoService, echo, { ready: false });
  const health = createClient(Health, served.channel, { timeoutMs: 10_000 });
  const watch = health.watch({ service: EchoService.typeName })[Symbol.asyncIterator]();
  assert.equal((await watch.next()).value?.status, ServingStatus.NOT_SERVING);
  served.server.setReady();
  assert.equal((await watch.next()).value?.status, ServingStatus.SERVING);
  const draining = served.server.drain(1_000);
  assert.equal((await watch.next()).value?.status, ServingStatus.NOT_SERVING);
  assert.equal((await watch.next()).done, true);
  await draining;
  // Once draining, nothing flips it back.
  served.server.setReady();
  assert.equal(served.server.health.get(""), ServingStatus.NOT_SERVING);
  served.channel.close();
});

test("Watch of an unknown service reports SERVICE_UNKNOWN", async () => {
  const served = await serve(EchoService, echo);
  try {
    const health = createClient(Health, served.channel, { timeoutMs: 2_000 });
    for await (const update of health.watch({ service: "unknown.Service" })) {
      assert.equal(update.status, ServingStatus.SERVICE_UNKNOWN);
      break;
    }
  } finally {
    await served.close();
  }
});
