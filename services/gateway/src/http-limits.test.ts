/**
 * The HTTP server's edges over raw sockets (node:net), where no client library tidies the bytes: what
 * Node's parser and fastify's router refuse before a route runs is a problem+json document with a
 * catalog code; a body that stalls is answered 408 within the body-idle timeout and its connection
 * closed; uploads past the in-flight cap are refused at once with 503 and Retry-After.
 */
import assert from "node:assert/strict";
import { connect } from "node:net";
import { after, before, describe, test } from "node:test";
import { API_ERRORS, type ApiErrorCode } from "./errors.js";
import type { HttpLimits } from "./http-limits.js";
import type { JobStore } from "./store/index.js";
import { bearer, idemKey, openTestStore, type TestGateway, testGateway } from "./test-support.js";

/** What came back on a socket: the parsed response (if any), whether the server closed, and when. */
interface Exchange {
  status: number | undefined;
  headers: Record<string, string>;
  body: string;
  closed: boolean;
  ms: number;
}

/** The head of a dataset upload of `length` bytes (a zip), to be followed by (some of) its body. */
function uploadHead(authorization: string, length: number): string {
  return [
    "POST /v1/datasets HTTP/1.1",
    "host: localhost",
    `authorization: ${authorization}`,
    `idempotency-key: ${idemKey()}`,
    "content-type: application/zip",
    `content-length: ${length}`,
    "",
    "",
  ].join("\r\n");
}

/** A socket to the gateway that writes when told and records everything the server sends. */
function open(port: number) {
  const socket = connect({ host: "127.0.0.1", port });
  const started = Date.now();
  let raw = "";
  socket.setEncoding("latin1");
  socket.on("data", (chunk: string) => {
    raw += chunk;
  });
  socket.on("error", () => {}); // a reset after the answer is fine: the answer is what is checked
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  return {
    write: (bytes: string | Buffer) => socket.write(bytes),
    /** Waits for the server to close the connection, at most `ms`. */
    async result(ms: number): Promise<Exchange> {
      const done = await Promise.race([
        closed.then(() => true),
        new Promise<false>((resolve) => setTimeout(() => resolve(false), ms)),
      ]);
      const elapsed = Date.now() - started;
      socket.destroy();
      const split = raw.indexOf("\r\n\r\n");
      const head = split < 0 ? raw : raw.slice(0, split);
      const [statusLine, ...lines] = head.split("\r\n");
      const status = /^HTTP\/1\.1 (\d{3})/.exec(statusLine ?? "")?.[1];
      const headers = Object.fromEntries(
        lines.map((line) => {
          const at = line.indexOf(":");
          return [line.slice(0, at).trim().toLowerCase(), line.slice(at + 1).trim()];
        }),
      );
      return {
        status: status === undefined ? undefined : Number(status),
        headers,
        body: split < 0 ? "" : raw.slice(split + 4),
        closed: done,
        ms: elapsed,
      };
    },
  };
}

/** Sends `bytes` on a fresh connection and waits (at most `ms`) for the server to answer and close. */
async function exchange(port: number, bytes: string | Buffer, ms = 3000): Promise<Exchange> {
  const socket = open(port);
  socket.write(bytes);
  return socket.result(ms);
}

/** Checks that `res` is the catalog's problem document for `code`, sent with `Connection: close`. */
function expectProblem(res: Exchange, code: ApiErrorCode): void {
  const what = `${res.status} ${JSON.stringify(res.headers)} ${res.body}`;
  assert.ok(code in API_ERRORS, `${code} is in the catalog`);
  assert.equal(res.status, API_ERRORS[code].status, what);
  assert.match(res.headers["content-type"] ?? "", /^application\/problem\+json/, what);
  const body = JSON.parse(res.body) as { code: string; status: number; type: string };
  assert.equal(body.code, code, what);
  assert.equal(body.status, API_ERRORS[code].status);
  assert.equal(body.type, `urn:diffda:problem:${code}`);
}

const LIMITS: Partial<HttpLimits> = {
  headersTimeoutMs: 400,
  requestTimeoutMs: 1500,
  bodyIdleTimeoutMs: 300,
  maxUploadsInFlight: 2,
};

describe("HTTP edges over raw sockets: parser and router errors, stalled bodies, the upload cap", () => {
  let store: JobStore;
  let gw: TestGateway;
  let port: number;
  let auth: string;

  before(async () => {
    store = await openTestStore();
    gw = await testGateway({ store, http: LIMITS });
    await gw.app.listen({ host: "127.0.0.1", port: 0 });
    port = (gw.app.server.address() as { port: number }).port;
    auth = (await bearer(store, ["submit", "read"])).headers.authorization;
  });
  after(async () => {
    await gw?.close();
    await store?.close();
  });

  const parserCases: [string, string, ApiErrorCode, number][] = [
    ["a request line that is no HTTP", "\u0001\u0002 nonsense\r\n\r\n", "malformed_request", 400],
    ["a bad HTTP version", "GET /healthz HTTP/9.9\r\nhost: x\r\n\r\n", "malformed_request", 400],
    [
      "both Content-Length and Transfer-Encoding",
      "POST /v1/keys HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n",
      "malformed_request",
      400,
    ],
    [
      "headers over 16 KiB",
      `GET /healthz HTTP/1.1\r\nhost: x\r\nx-big: ${"a".repeat(20_000)}\r\n\r\n`,
      "headers_too_large",
      431,
    ],
    ["a URL over 16 KiB", `GET /${"a".repeat(20_000)} HTTP/1.1\r\nhost: x\r\n\r\n`, "headers_too_large", 431],
    [
      "an Expect other than 100-continue",
      "POST /v1/keys HTTP/1.1\r\nhost: x\r\nexpect: the-moon\r\ncontent-length: 0\r\n\r\n",
      "expectation_failed",
      417,
    ],
    [
      "a malformed percent-encoding",
      "GET /v1/datasets/%zz HTTP/1.1\r\nhost: x\r\n\r\n",
      "malformed_url",
      400,
    ],
    [
      "a path parameter over 100 characters",
      `GET /v1/datasets/${"a".repeat(200)} HTTP/1.1\r\nhost: x\r\n\r\n`,
      "uri_too_long",
      414,
    ],
  ];
  for (const [what, bytes, code, status] of parserCases) {
    test(`${what} is ${status} ${code} as problem+json`, async () => {
      const res = await exchange(port, bytes);
      assert.equal(res.status, status);
      expectProblem(res, code);
    });
  }

  test("headers that stop arriving are 408 request_timeout after the headers timeout, and the socket closes", async () => {
    const socket = open(port);
    socket.write("GET /healthz HTTP/1.1\r\nhost: x\r\n");
    const res = await socket.result(3000);
    expectProblem(res, "request_timeout");
    assert.ok(res.closed, "the server closed the connection");
    assert.ok(res.ms >= 350 && res.ms < 2000, `${res.ms} ms`);
  });

  test("a body that stops arriving is 408 request_timeout within the body-idle timeout, and the socket closes", async () => {
    const socket = open(port);
    socket.write(uploadHead(auth, 100_000));
    socket.write(Buffer.alloc(1000, 1));
    const res = await socket.result(3000);
    expectProblem(res, "request_timeout");
    assert.equal(res.headers.connection, "close");
    assert.ok(res.closed, "the server closed the connection");
    assert.ok(res.ms >= 250 && res.ms < 2000, `${res.ms} ms`);
    assert.deepEqual(await gw.files(), [], "nothing was stored");
  });

  test("a body that trickles a byte at a time is not idle, and is answered once complete", async () => {
    const socket = open(port);
    const body = Buffer.from("not a zip at all");
    socket.write(uploadHead(auth, body.length));
    for (const byte of body) {
      socket.write(Buffer.from([byte]));
      await new Promise((resolve) => setTimeout(resolve, 40)); // 16 × 40 ms > the 300 ms idle timeout
    }
    const res = await socket.result(1000);
    expectProblem(res, "archive_invalid");
  });

  test("a body that trickles past the whole-request timeout is 408 request_timeout, and the socket closes", async () => {
    const socket = open(port);
    socket.write(uploadHead(auth, 1000));
    const trickle = setInterval(() => socket.write("x"), 100);
    const res = await socket.result(4000);
    clearInterval(trickle);
    expectProblem(res, "request_timeout");
    assert.ok(res.closed, "the server closed the connection");
    assert.ok(res.ms >= 1400 && res.ms < 3500, `${res.ms} ms`);
  });
});

describe("the upload cap: uploads past UPLOAD_MAX_IN_FLIGHT are refused at once", () => {
  let store: JobStore;
  let gw: TestGateway;
  let port: number;
  let auth: string;

  before(async () => {
    store = await openTestStore();
    gw = await testGateway({ store, http: { ...LIMITS, bodyIdleTimeoutMs: 1500 } });
    await gw.app.listen({ host: "127.0.0.1", port: 0 });
    port = (gw.app.server.address() as { port: number }).port;
    auth = (await bearer(store, ["submit", "read"])).headers.authorization;
  });
  after(async () => {
    await gw?.close();
    await store?.close();
  });

  test("cap + 1 slow uploads: the extra one is 503 uploads_busy with Retry-After; slots free up after", async () => {
    const big = 1024 * 1024; // over the JSON limit, under the upload limit: takes a slot
    const slow = [open(port), open(port)];
    for (const socket of slow) {
      socket.write(uploadHead(auth, big));
      socket.write(Buffer.alloc(4096, 1));
    }
    await new Promise((resolve) => setTimeout(resolve, 300)); // both authenticated and holding a slot
    const extra = open(port);
    extra.write(uploadHead(auth, big));
    extra.write(Buffer.alloc(4096, 1));
    const refused = await extra.result(1000);
    expectProblem(refused, "uploads_busy");
    assert.equal(refused.headers["retry-after"], "5");
    assert.ok(refused.closed, "the refused upload's connection is closed");
    assert.ok(refused.ms < 1000, `refused after ${refused.ms} ms, not left waiting`);

    // The slow ones time out (408), which frees their slots for the next upload.
    for (const socket of slow) expectProblem(await socket.result(4000), "request_timeout");
    const next = await exchange(port, `${uploadHead(auth, big)}${"x".repeat(100)}`, 4000);
    expectProblem(next, "request_timeout"); // admitted (then idle), not refused
  });

  test("a small body takes no slot", async () => {
    const slow = [open(port), open(port)];
    for (const socket of slow) {
      socket.write(uploadHead(auth, 1024 * 1024));
      socket.write(Buffer.alloc(10, 1));
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    const small = Buffer.from("PK not really");
    const res = await exchange(port, `${uploadHead(auth, small.length)}${small.toString("latin1")}`);
    expectProblem(res, "archive_invalid");
    for (const socket of slow) await socket.result(4000);
  });
});
