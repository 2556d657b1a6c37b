import assert from "node:assert/strict";
import { once } from "node:events";
import { connect } from "node:http2";
import { after, before, describe, test } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { EchoServerStreamRequestSchema, EchoService } from "../gen/diffda/testing/v1/echo_pb.js";
import { RpcError } from "./error.js";
import { methodPath } from "./schema.js";
import { deferred, delay, type Served, serve } from "./test-server.js";
import type { HandlerContext } from "./types.js";

/**
 * Whether the handler's signal fired for a deadline. When a grpc-js client's own deadline passes it
 * cancels the call (RST_STREAM), and the server tells that from an explicit cancel only by the time it
 * arrives (handlers.ts); under heavy load it may arrive early enough to read as a cancel. Either way the
 * handler was aborted, which is what these tests need; the server's own deadline is tested apart.
 */
function abortedAtDeadline(reason: unknown): boolean {
  return reason instanceof RpcError && (reason.code === "deadline_exceeded" || reason.code === "cancelled");
}

/**
 * Calls a server-streaming method over plain HTTP/2 with a grpc-timeout header, as a client that never
 * cancels would: only the server's own deadline can end the call. Resolves with the grpc-status.
 */
async function callWithoutCancelling(port: number, path: string, body: Uint8Array, timeout: string) {
  const session = connect(`http://127.0.0.1:${port}`);
  try {
    const stream = session.request({
      ":method": "POST",
      ":path": path,
      "content-type": "application/grpc",
      te: "trailers",
      "grpc-timeout": timeout,
    });
    const frame = Buffer.alloc(5 + body.length);
    frame.writeUInt32BE(body.length, 1); // byte 0: not compressed
    frame.set(body, 5);
    stream.end(frame);
    let status: string | undefined;
    stream.on("trailers", (trailers) => {
      status = String(trailers["grpc-status"]);
    });
    stream.on("data", () => {});
    await once(stream, "close");
    return status;
  } finally {
    session.close();
  }
}

/** What a handler observed, reported when it finishes. */
interface Observed {
  reason: unknown;
  deadline: number | undefined;
  yielded: number;
  yieldedAfterAbort: number;
  finished: boolean;
}

describe("deadlines and cancellation reach the handler's AbortSignal", () => {
  let served: Served<typeof EchoService>;
  let done = deferred<Observed>();
  const observe = (context: HandlerContext): Observed => ({
    reason: undefined,
    deadline: context.deadline,
    yielded: 0,
    yieldedAfterAbort: 0,
    finished: false,
  });

  before(async () => {
    served = await serve(
      EchoService,
      {
        async echo(request, context) {
          const seen = observe(context);
          try {
            await delay(Number(request.text || 10_000), context.signal);
            return { text: "slept" };
          } catch (error) {
            seen.reason = error;
            throw error;
          } finally {
            seen.finished = true;
            done.resolve(seen);
          }
        },
        async *echoServerStream(request, context) {
          const seen = observe(context);
          context.signal.addEventListener("abort", () => {
            seen.reason = context.signal.reason;
          });
          try {
            for (let index = 0; ; index++) {
              yield { text: request.text, index };
              seen.yielded++;
              if (context.signal.aborted) seen.yieldedAfterAbort++;
              await delay(5);
            }
          } finally {
            seen.finished = true;
            done.resolve(seen);
          }
        },
        async echoClientStream(requests, context) {
          const seen = observe(context);
          const texts: string[] = [];
          try {
            for await (const request of requests) texts.push(request.text);
            // Simulates the work an upload is for (training): it must stop when the call is cancelled.
            if (texts[0] === "work") await delay(5_000, context.signal);
            return { texts };
          } catch (error) {
            seen.reason = error;
            throw error;
          } finally {
            seen.yielded = texts.length;
            seen.finished = true;
            done.resolve(seen);
          }
        },
        async *echoBidiStream() {},
      },
      { client: { timeoutMs: 5_000, methodTimeoutsMs: { echoClientStream: 60_000 } } },
    );
  });
  after(() => served.close());

  async function failure(promise: Promise<unknown>): Promise<RpcError> {
    const error = await promise.then(
      () => assert.fail("expected the call to fail"),
      (e: unknown) => e,
    );
    assert.ok(error instanceof RpcError);
    return error;
  }

  test("a client deadline fails the call with deadline_exceeded and aborts the unary handler", async () => {
    done = deferred();
    const started = Date.now();
    const error = await failure(served.client.echo({ text: "10000" }, { timeoutMs: 150 }));
    assert.equal(error.code, "deadline_exceeded");
    assert.ok(Date.now() - started < 2_000);
    const seen = await done.promise;
    assert.ok(abortedAtDeadline(seen.reason), String(seen.reason));
    assert.ok(seen.deadline !== undefined && Math.abs(seen.deadline - (started + 150)) < 1_000);
  });

  test("a deadline aborts a server stream's handler, which stops yielding", async () => {
    done = deferred();
    const received: number[] = [];
    const error = await failure(
      (async () => {
        for await (const message of served.client.echoServerStream({ text: "t" }, { timeoutMs: 200 })) {
          received.push(message.index);
        }
      })(),
    );
    assert.equal(error.code, "deadline_exceeded");
    const seen = await done.promise;
    assert.ok(abortedAtDeadline(seen.reason), String(seen.reason));
    assert.ok(seen.finished);
    assert.equal(seen.yieldedAfterAbort, 0);
    assert.ok(received.length > 0);
  });

  test("the server's own deadline aborts a server stream's handler with deadline_exceeded", async () => {
    done = deferred();
    const body = toBinary(
      EchoServerStreamRequestSchema,
      create(EchoServerStreamRequestSchema, { text: "t" }),
    );
    const path = methodPath(EchoService.method.echoServerStream);
    const status = await callWithoutCancelling(served.port, path, body, "200m");
    assert.equal(status, "4", "DEADLINE_EXCEEDED from the server");
    const seen = await done.promise;
    assert.ok(seen.reason instanceof RpcError, String(seen.reason));
    assert.equal(seen.reason.code, "deadline_exceeded");
    assert.ok(seen.finished);
    assert.equal(seen.yieldedAfterAbort, 0);
    assert.ok(seen.yielded > 0);
  });

  test("leaving a server stream early cancels it: the handler sees the abort and stops", async () => {
    done = deferred();
    const received: number[] = [];
    for await (const message of served.client.echoServerStream({ text: "t" })) {
      received.push(message.index);
      if (received.length === 3) break;
    }
    const seen = await done.promise;
    assert.ok(seen.reason instanceof RpcError);
    assert.equal(seen.reason.code, "cancelled");
    assert.ok(seen.finished);
    const yielded = seen.yielded;
    await delay(100);
    assert.equal(seen.yielded, yielded, "the handler kept yielding after the cancel");
    assert.equal(seen.yieldedAfterAbort, 0);
  });

  test("a client AbortSignal cancels a unary call on both sides", async () => {
    done = deferred();
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const error = await failure(served.client.echo({ text: "10000" }, { signal: controller.signal }));
    assert.equal(error.code, "cancelled");
    const seen = await done.promise;
    assert.ok(seen.reason instanceof RpcError && seen.reason.code === "cancelled");
  });

  test("per-method default deadlines apply and every call carries one", async () => {
    done = deferred();
    const started = Date.now();
    await served.client.echo({ text: "1" });
    const seen = await done.promise;
    assert.ok(seen.deadline !== undefined, "the server saw no deadline");
    assert.ok(Math.abs(seen.deadline - (started + 5_000)) < 1_000, "default timeoutMs not applied");

    done = deferred();
    async function* one() {
      yield { text: "a" };
    }
    const uploadStarted = Date.now();
    await served.client.echoClientStream(one());
    const upload = await done.promise;
    assert.ok(upload.deadline !== undefined && Math.abs(upload.deadline - (uploadStarted + 60_000)) < 1_000);
  });

  test("cancelling an upload fires the handler's signal; later messages never arrive", async () => {
    done = deferred();
    const controller = new AbortController();
    async function* slow() {
      yield { text: "work" };
      await delay(100);
      controller.abort();
      yield { text: "never" };
    }
    const started = Date.now();
    const error = await failure(served.client.echoClientStream(slow(), { signal: controller.signal }));
    assert.equal(error.code, "cancelled");
    const seen = await done.promise;
    assert.ok(seen.reason instanceof RpcError && seen.reason.code === "cancelled", String(seen.reason));
    assert.equal(seen.yielded, 1);
    assert.ok(Date.now() - started < 2_000, "the handler's work was not aborted");
  });
});
