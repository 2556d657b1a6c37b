import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfigError, string } from "../config/index.js";
import { EchoService } from "../gen/diffda/testing/v1/echo_pb.js";
import { createChannel, createClient, Health, RpcError, ServingStatus } from "../rpc/index.js";
import { deferred } from "../rpc/test-server.js";
import { runService } from "./host.js";

const LIMITS = { maxReceiveMessageBytes: 1 << 20, maxSendMessageBytes: 1 << 20 };
const ENV = {
  GRPC_HOST: "127.0.0.1",
  GRPC_PORT: "0",
  METRICS_HOST: "127.0.0.1",
  METRICS_PORT: "0",
  LOG_LEVEL: "silent",
};

const echo = {
  echo: (request: { text: string }) => ({ text: request.text }),
  async *echoServerStream() {},
  echoClientStream: async () => ({}),
  async *echoBidiStream() {},
};

describe("runService", () => {
  it("answers NOT_SERVING until load resolves, then SERVING; shutdown drains and exits 0", async () => {
    const loaded = deferred();
    const exits: number[] = [];
    let closed = false;
    const running = await runService({
      name: "test",
      ports: { grpcPort: 0, metricsPort: 0 },
      schema: { EXTRA: string({ default: "x" }) },
      env: ENV,
      handleSignals: false,
      exit: (code) => exits.push(code),
      setup(host) {
        assert.equal(host.config.EXTRA, "x");
        host.server.register(EchoService, echo);
        return {
          load: () => loaded.promise,
          close: async () => {
            closed = true;
          },
        };
      },
    });
    const channel = createChannel({ address: `127.0.0.1:${running.grpcPort}`, limits: LIMITS });
    const health = createClient(Health, channel, { timeoutMs: 5_000 });
    const metrics = async () => (await fetch(`http://127.0.0.1:${running.metricsPort}/metrics`)).text();
    assert.equal((await health.check({ service: "" })).status, ServingStatus.NOT_SERVING);
    assert.equal(
      (await health.check({ service: "diffda.testing.v1.EchoService" })).status,
      ServingStatus.NOT_SERVING,
    );
    assert.match(await metrics(), /diffda_service_ready\{service="test"\} 0/);
    loaded.resolve();
    await running.ready;
    assert.equal((await health.check({ service: "" })).status, ServingStatus.SERVING);
    assert.match(await metrics(), /diffda_service_ready\{service="test"\} 1/);
    assert.equal(
      (await createClient(EchoService, channel, { timeoutMs: 5_000 }).echo({ text: "hi" })).text,
      "hi",
    );
    assert.equal(await running.shutdown("test"), 0);
    assert.deepEqual(exits, [0]);
    assert.ok(closed, "the service's close hook ran");
    const refused = await health.check({ service: "" }).catch((e: unknown) => e);
    assert.ok(refused instanceof RpcError && refused.grpcCode === 14, String(refused));
    channel.close();
  });

  it("stops with exit code 1 and every bad variable listed when the configuration is invalid", async () => {
    const exits: number[] = [];
    await assert.rejects(
      runService({
        name: "test",
        ports: { grpcPort: 0, metricsPort: 0 },
        schema: { MODEL_DIR: string() },
        env: { ...ENV, GRPC_PORT: "http", DRAIN_GRACE_MS: "-1" },
        handleSignals: false,
        exit: (code) => exits.push(code),
        setup: () => ({}),
      }),
      (error: unknown) =>
        error instanceof ConfigError &&
        ["GRPC_PORT", "DRAIN_GRACE_MS", "MODEL_DIR"].every((name) =>
          error.issues.some((i) => i.name === name),
        ),
    );
    assert.deepEqual(exits, [1]);
  });

  it("exits 1 when loading fails", async () => {
    const exits: number[] = [];
    const running = await runService({
      name: "test",
      ports: { grpcPort: 0, metricsPort: 0 },
      schema: {},
      env: ENV,
      handleSignals: false,
      exit: (code) => exits.push(code),
      setup: () => ({ load: async () => Promise.reject(new Error("no model")) }),
    });
    await assert.rejects(running.ready, /no model/);
    for (let i = 0; i < 100 && exits.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(exits, [1]);
  });
});
