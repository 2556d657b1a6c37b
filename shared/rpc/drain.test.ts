import assert from "node:assert/strict";
import { test } from "node:test";
import { EchoService } from "../gen/diffda/testing/v1/echo_pb.js";
import { RpcError } from "./error.js";
import { deferred, delay, serve } from "./test-server.js";
import type { ServiceImpl } from "./types.js";

/** An echo service whose unary call sleeps `text` ms (honouring its signal) and reports how it ended. */
function sleeper() {
  const started = deferred();
  const streamStarted = deferred();
  const ended = deferred<unknown>();
  const impl: ServiceImpl<typeof EchoService> = {
    async echo(request, context) {
      started.resolve();
      try {
        await delay(Number(request.text), context.signal);
        ended.resolve("completed");
        return { text: "done" };
      } catch (error) {
        ended.resolve(error);
        throw error;
      }
    },
    async *echoServerStream(request, context) {
      streamStarted.resolve();
      for (let index = 0; index < request.repeat; index++) {
        await delay(50, context.signal);
        yield { index };
      }
      ended.resolve("completed");
    },
    echoClientStream: async () => ({}),
    async *echoBidiStream() {},
  };
  return { impl, started: started.promise, streamStarted: streamStarted.promise, ended: ended.promise };
}

test("drain waits for calls in flight to finish within the grace period", async () => {
  const { impl, started, streamStarted, ended } = sleeper();
  const served = await serve(EchoService, impl);
  const call = served.client.echo({ text: "300" });
  const stream = (async () => {
    const indexes: number[] = [];
    for await (const message of served.client.echoServerStream({ repeat: 4 })) indexes.push(message.index);
    return indexes;
  })();
  await Promise.all([started, streamStarted]);
  const t0 = Date.now();
  await served.server.drain(5_000);
  const elapsed = Date.now() - t0;
  assert.equal((await call).text, "done");
  assert.deepEqual(await stream, [0, 1, 2, 3]);
  assert.equal(await ended, "completed");
  assert.ok(elapsed >= 200, `drain returned after ${elapsed} ms, before the call finished`);
  assert.ok(elapsed < 4_000, `drain took ${elapsed} ms though the call finished early`);
  assert.equal(served.server.inFlight, 0);
  served.channel.close();
});

test("drain aborts calls still running after the grace period; they fail with UNAVAILABLE", async () => {
  const { impl, started, ended } = sleeper();
  const served = await serve(EchoService, impl);
  const call = served.client.echo({ text: "60000" }).catch((e: unknown) => e);
  await started;
  const t0 = Date.now();
  await served.server.drain(200);
  const elapsed = Date.now() - t0;
  const error = await call;
  assert.ok(error instanceof RpcError, String(error));
  assert.equal(error.code, "shutting_down");
  assert.equal(error.grpcCode, 14);
  const reason = await ended;
  assert.ok(reason instanceof RpcError && reason.code === "shutting_down", String(reason));
  assert.ok(elapsed >= 190 && elapsed < 2_000, `drain took ${elapsed} ms`);
  served.channel.close();
});

test("a draining server refuses new calls with UNAVAILABLE", async () => {
  const { impl, started } = sleeper();
  const served = await serve(EchoService, impl);
  const inFlight = served.client.echo({ text: "400" });
  await started;
  const draining = served.server.drain(2_000);
  const error = await served.client.echo({ text: "0" }).catch((e: unknown) => e);
  assert.ok(error instanceof RpcError, String(error));
  assert.equal(error.grpcCode, 14);
  assert.ok(error.retryable);
  assert.equal((await inFlight).text, "done");
  await draining;
  served.channel.close();
});
