import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { status as grpcStatus } from "@grpc/grpc-js";
import { ClassifierService } from "../gen/diffda/classifier/v1/classifier_pb.js";
import { EchoService } from "../gen/diffda/testing/v1/echo_pb.js";
import { type ErrorCode, errorCatalog, genericErrorCode } from "./catalog.js";
import { createClient } from "./client.js";
import { GrpcCode, grpcCodeName } from "./codes.js";
import { RpcError } from "./error.js";
import { type Served, serve } from "./test-server.js";

describe("error catalog", () => {
  test("GrpcCode matches grpc-js's status numbers", () => {
    for (const [name, code] of Object.entries(GrpcCode)) {
      assert.equal(grpcStatus[name as keyof typeof grpcStatus], code, name);
    }
  });

  test("every non-OK gRPC status has a generic code that travels with that status", () => {
    for (const code of Object.values(GrpcCode)) {
      if (code === GrpcCode.OK) continue;
      const generic = genericErrorCode(code);
      assert.equal(errorCatalog[generic].grpcCode, code, generic);
    }
  });

  test("codes are snake_case and retryable only for transient statuses", () => {
    const transient = new Set<number>([GrpcCode.UNAVAILABLE, GrpcCode.DEADLINE_EXCEEDED, GrpcCode.ABORTED]);
    for (const [code, entry] of Object.entries(errorCatalog)) {
      assert.match(code, /^[a-z]+(_[a-z0-9]+)*$/);
      assert.equal(entry.retryable, transient.has(entry.grpcCode), code);
    }
  });
  test("docs/rpc.md documents exactly the catalog", () => {
    const doc = readFileSync(new URL("../../docs/rpc.md", import.meta.url), "utf8");
    const rows = [...doc.matchAll(/^\| `([a-z_]+)` +\| ([A-Z_]+) \((\d+)\) +\| (yes|no) +\|/gm)];
    const documented = Object.fromEntries(rows.map((m) => [m[1], `${m[2]} ${m[3]} ${m[4]}`]));
    const actual = Object.fromEntries(
      Object.entries(errorCatalog).map(([code, e]) => [
        code,
        `${grpcCodeName(e.grpcCode)} ${e.grpcCode} ${e.retryable ? "yes" : "no"}`,
      ]),
    );
    assert.deepEqual(documented, actual);
  });
});

describe("RpcError.from", () => {
  test("keeps an RpcError as is", () => {
    const error = new RpcError("invalid_field", "bad");
    assert.equal(RpcError.from(error), error);
  });

  test("turns other errors into the fallback code with their message and cause", () => {
    const cause = new TypeError("boom");
    const error = RpcError.from(cause);
    assert.equal(error.code, "internal");
    assert.equal(error.grpcCode, GrpcCode.INTERNAL);
    assert.equal(error.message, "boom");
    assert.equal(error.cause, cause);
    assert.equal(RpcError.from("text", "unknown").code, "unknown");
  });

  test("maps abort and timeout reasons", () => {
    assert.equal(RpcError.from(new DOMException("stop", "AbortError")).code, "cancelled");
    assert.equal(RpcError.from(new DOMException("late", "TimeoutError")).code, "deadline_exceeded");
  });

  test("reads a grpc-js status without details as the generic code of its status", () => {
    const error = RpcError.from({
      code: GrpcCode.UNAVAILABLE,
      details: "connection refused",
      metadata: null,
    });
    assert.equal(error.code, "unavailable");
    assert.equal(error.message, "connection refused");
    assert.ok(error.retryable);
  });
});

describe("a thrown error arrives at the client as the same RpcError", () => {
  let served: Served<typeof EchoService>;
  let toThrow: unknown;
  before(async () => {
    served = await serve(EchoService, {
      echo() {
        throw toThrow;
      },
      // biome-ignore lint/correctness/useYield: fails before its first message on purpose.
      async *echoServerStream() {
        throw toThrow;
      },
      async echoClientStream(requests) {
        for await (const request of requests) {
          if (request.text === "bad") throw toThrow;
        }
        return {};
      },
      async *echoBidiStream(requests) {
        for await (const request of requests) {
          if (request.text === "bad") throw toThrow;
          yield { text: request.text };
        }
      },
    });
  });
  after(() => served.close());

  async function rejection(promise: Promise<unknown>): Promise<RpcError> {
    try {
      await promise;
    } catch (error) {
      assert.ok(error instanceof RpcError, `expected RpcError, got ${error}`);
      return error;
    }
    assert.fail("expected the call to fail");
  }

  const cases: [ErrorCode, number][] = [
    ["invalid_field", GrpcCode.INVALID_ARGUMENT],
    ["model_not_found", GrpcCode.NOT_FOUND],
    ["checksum_mismatch", GrpcCode.DATA_LOSS],
    ["not_ready", GrpcCode.UNAVAILABLE],
    ["unimplemented", GrpcCode.UNIMPLEMENTED],
  ];
  for (const [code, grpcCode] of cases) {
    test(`unary: ${code} keeps its code, gRPC status, message and details`, async () => {
      toThrow = new RpcError(code, `${code} happened: 100% «ü»`, {
        details: { field: "spec.count", hint: "≥ 1" },
      });
      const error = await rejection(served.client.echo({ text: "x" }));
      assert.equal(error.code, code);
      assert.equal(error.grpcCode, grpcCode);
      assert.equal(error.message, `${code} happened: 100% «ü»`);
      assert.deepEqual(error.details, { field: "spec.count", hint: "≥ 1" });
    });
  }

  test("a plain Error becomes internal with its message", async () => {
    toThrow = new Error("disk on fire");
    const error = await rejection(served.client.echo({ text: "x" }));
    assert.equal(error.code, "internal");
    assert.equal(error.grpcCode, GrpcCode.INTERNAL);
    assert.equal(error.message, "disk on fire");
  });

  test("server streaming, client streaming and bidi report the thrown code too", async () => {
    toThrow = new RpcError("invalid_stream", "chunk 3 out of order");
    const streamed = (async () => {
      for await (const _ of served.client.echoServerStream({ text: "x", repeat: 1 })) {
        // never reached
      }
    })();
    assert.equal((await rejection(streamed)).code, "invalid_stream");

    async function* input() {
      yield { text: "ok" };
      yield { text: "bad" };
    }
    const uploaded = await rejection(served.client.echoClientStream(input()));
    assert.equal(uploaded.code, "invalid_stream");
    assert.equal(uploaded.message, "chunk 3 out of order");

    const seen: string[] = [];
    const bidi = (async () => {
      for await (const message of served.client.echoBidiStream(input())) seen.push(message.text);
    })();
    assert.equal((await rejection(bidi)).code, "invalid_stream");
    assert.deepEqual(seen, ["ok"]);
  });

  test("client streaming: an early server error ends the call though the client has more to send", async () => {
    toThrow = new RpcError("invalid_stream", "header must come first");
    async function* stalls() {
      yield { text: "bad" };
      await new Promise(() => {}); // the caller never produces the rest
    }
    const error = await rejection(served.client.echoClientStream(stalls()));
    assert.equal(error.code, "invalid_stream");
  });

  test("a method the server does not serve fails with unimplemented", async () => {
    // The server serves EchoService (and Health) only.
    const classifier = createClient(ClassifierService, served.channel, { timeoutMs: 2_000 });
    const error = await rejection(classifier.evaluate({}));
    assert.equal(error.code, "unimplemented");
  });
});
