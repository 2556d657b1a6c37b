/**
 * The S3 store over s3rver on loopback: the shared contract, then what only S3 has — the multipart path
 * and its abort, HEAD before upload, key prefixes, signed links, and the boot check of the bucket.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import { after, before, describe, type TestContext, test } from "node:test";
import { fileURLToPath } from "node:url";
import { type ListObjectsV2CommandInput, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { ConfigError } from "../../../shared/config/index.js";
import { blobStoreContract } from "./blob-store.contract.js";
import { BlobStoreUnavailableError, sha256Hex } from "./blob-store.js";
import { loadGatewayEnv } from "./config.js";
import { openBlobStore } from "./open-blob-store.js";
import { classifyError } from "./orchestrator/classify-error.js";
import { S3BlobStore } from "./s3-blob-store.js";
import { idemKey, png, testGateway } from "./test-support.js";
import { startTestS3, TEST_S3_CREDENTIALS, type TestS3 } from "./testing/s3-server.js";

const PART = 64 * 1024;

let contractPrefix = 0;
let shared: TestS3 | undefined;
blobStoreContract("S3 bucket (s3rver)", async () => {
  shared ??= await startTestS3();
  // Each run gets its own prefix, so the listing sees only its own blobs.
  const prefix = `contract-${contractPrefix++}/`;
  return { store: shared.store({ prefix, partBytes: PART }), largeBytes: PART, close: async () => {} };
});
after(() => shared?.close());

/** The commands a client sends, by name, and optional failures to inject, until the test ends. */
function recordCommands(
  t: TestContext,
  client: S3Client,
  fail?: (command: string, input: Record<string, unknown>) => boolean,
) {
  const sent: string[] = [];
  const name = `record-${t.name}`;
  t.after(() => client.middlewareStack.remove(name));
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const command = String(context.commandName);
      sent.push(command);
      if (fail?.(command, args.input as Record<string, unknown>))
        throw new Error(`injected ${command} failure`);
      return next(args);
    },
    { step: "initialize", name },
  );
  return sent;
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe("S3 store: multipart, reuse, prefixes, signed links, boot check", () => {
  let s3: TestS3;
  before(async () => {
    s3 = await startTestS3({ bucket: "diffda-s3-only" });
  });
  after(() => s3?.close());

  test("a blob over the part size goes up in parts and appears as one object; a small one in one PUT", async (t) => {
    const store = s3.store({ prefix: "mp/", partBytes: PART, partConcurrency: 2 });
    const sent = recordCommands(t, s3.client);
    const big = randomBytes(PART * 3 + 1);
    const blob = await store.put(big);
    const parts = sent.filter((c) => c === "UploadPartCommand").length;
    assert.equal(parts, 4);
    assert.deepEqual(
      sent.filter((c) => c !== "UploadPartCommand"),
      ["HeadObjectCommand", "CreateMultipartUploadCommand", "CompleteMultipartUploadCommand"],
    );
    assert.deepEqual(await s3.keys("mp/"), [`mp/${blob.path}`]);
    assert.equal(sha256Hex(await store.read(blob.sha256)), blob.sha256);
    sent.length = 0;
    await store.put(randomBytes(PART));
    assert.deepEqual(sent, ["HeadObjectCommand", "PutObjectCommand"]);
  });

  test("a stored blob is not uploaded again: HEAD, then a copy onto itself that marks the reuse", async (t) => {
    const store = s3.store({ prefix: "reuse/", partBytes: PART });
    const bytes = randomBytes(PART * 2);
    await store.put(bytes);
    const sent = recordCommands(t, s3.client);
    await store.put(bytes);
    assert.deepEqual(sent, ["HeadObjectCommand", "CopyObjectCommand"]);
  });

  test("a failed part aborts the upload: the put rejects and nothing is visible; a retry stores it", async (t) => {
    const store = s3.store({ prefix: "abort/", partBytes: PART, partConcurrency: 1 });
    let failing = true;
    const sent = recordCommands(
      t,
      s3.client,
      (command, input) => failing && command === "UploadPartCommand" && input.PartNumber === 3,
    );
    const bytes = randomBytes(PART * 4);
    await assert.rejects(store.put(bytes), /injected UploadPartCommand failure/);
    assert.ok(sent.includes("AbortMultipartUploadCommand"), sent.join());
    assert.equal(sent.includes("CompleteMultipartUploadCommand"), false);
    assert.deepEqual(await s3.keys("abort/"), []);
    assert.equal(await store.has(sha256Hex(bytes)), false);
    failing = false;
    const blob = await store.put(bytes);
    assert.deepEqual(await s3.keys("abort/"), [`abort/${blob.path}`]);
  });

  test("prefixes keep stores apart in one bucket; objects that are not blobs are not listed", async () => {
    const a = s3.store({ prefix: "tenant-a/" });
    const b = s3.store({ prefix: "tenant-b/" });
    const blob = await a.put(Buffer.from("only in a"));
    await s3.client.send(
      new PutObjectCommand({ Bucket: s3.bucket, Key: "tenant-a/sha256/zz/not-a-digest", Body: "x" }),
    );
    await s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: "tenant-a/other/file", Body: "x" }));
    assert.equal(await b.has(blob.sha256), false);
    const inA: string[] = [];
    for await (const digest of a.digests()) inA.push(digest);
    assert.deepEqual(inA, [blob.sha256]);
    assert.throws(() => s3.store({ prefix: "no-slash" }), TypeError);
  });

  test("digests pages through more keys than one listing page (StartAfter the last key)", async (t) => {
    // s3rver cannot truncate a listing (its continuation tokens use DES, which Node's OpenSSL 3 lacks), so
    // a client middleware cuts each answer to the page size and marks it truncated, as S3 would.
    const name = "cut-pages";
    t.after(() => s3.client.middlewareStack.remove(name));
    const startAfters: (string | undefined)[] = [];
    s3.client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName !== "ListObjectsV2Command") return next(args);
        const input = args.input as ListObjectsV2CommandInput;
        const pageSize = input.MaxKeys ?? 1000;
        startAfters.push(input.StartAfter);
        const result = await next({ ...args, input: { ...input, MaxKeys: undefined } });
        const output = result.output as { Contents?: unknown[]; IsTruncated?: boolean };
        const all = output.Contents ?? [];
        output.IsTruncated = all.length > pageSize;
        output.Contents = all.slice(0, pageSize);
        return result;
      },
      { step: "initialize", name },
    );
    const store = s3.store({ prefix: "paged/", listPageSize: 3 });
    const blobs = await Promise.all(Array.from({ length: 8 }, (_, i) => store.put(Buffer.from(`blob ${i}`))));
    const listed: string[] = [];
    for await (const digest of store.digests()) listed.push(digest);
    assert.deepEqual(listed, blobs.map((b) => b.sha256).sort());
    assert.equal(startAfters.length, 3, "8 keys in pages of 3");
    assert.equal(startAfters[0], undefined);
    assert.equal(startAfters[1], `paged/sha256/${listed[2].slice(0, 2)}/${listed[2].slice(2)}`);
  });

  test("a signed link downloads the bytes without credentials until it expires; a tampered one is refused", async () => {
    const store = s3.store({ prefix: "links/", presignTtlSeconds: 120 });
    const bytes = randomBytes(2048);
    const other = await store.put(Buffer.from("another blob"));
    const blob = await store.put(bytes);
    const before = Date.now();
    const link = await store.link(blob.sha256, {
      filename: "model.safetensors",
      mediaType: "application/x-test",
    });
    assert.ok(link, "the S3 store signs links by default");
    const expires = Date.parse(link.expiresAt);
    assert.ok(expires >= before + 119_000 && expires <= Date.now() + 121_000, link.expiresAt);
    const url = new URL(link.url);
    assert.equal(url.searchParams.get("X-Amz-Expires"), "120");
    const signedAt = (url.searchParams.get("X-Amz-Date") ?? "").replace(
      /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/,
      "$1-$2-$3T$4:$5:$6Z",
    );
    assert.equal(expires, Date.parse(signedAt) + 120_000, "expiresAt is the URL's own expiry");
    assert.equal(url.pathname, `/${s3.bucket}/links/${blob.path}`);
    const res = await fetch(link.url);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "application/x-test");
    assert.equal(res.headers.get("content-disposition"), 'attachment; filename="model.safetensors"');
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), bytes);

    const signature = url.searchParams.get("X-Amz-Signature") ?? "";
    const flipped = new URL(link.url);
    flipped.searchParams.set("X-Amz-Signature", (signature[0] === "0" ? "1" : "0") + signature.slice(1));
    const otherKey = new URL(link.url);
    otherKey.pathname = `/${s3.bucket}/links/${other.path}`;
    const longer = new URL(link.url);
    longer.searchParams.set("X-Amz-Expires", "604800");
    for (const tampered of [flipped, otherKey, longer]) {
      const refused = await fetch(tampered);
      assert.equal(refused.status, 403, tampered.href);
      await refused.arrayBuffer();
    }
    assert.equal(s3.refused.length, 3);
  });

  test("an unreachable endpoint is BlobStoreUnavailableError: tasks retry it, REST answers 503", async () => {
    const dead = new S3Client({
      endpoint: `http://127.0.0.1:${await closedPort()}`,
      region: s3.region,
      forcePathStyle: true,
      credentials: TEST_S3_CREDENTIALS,
      maxAttempts: 1,
    });
    try {
      const store = s3.store({ client: dead });
      const digest = sha256Hex(Buffer.from("x"));
      const failures = [
        () => store.put(Buffer.from("x")),
        () => store.has(digest),
        () => store.read(digest),
        () => store.info(digest),
        () => store.delete(digest),
        async () => {
          for await (const _ of store.digests()) break;
        },
      ];
      for (const failure of failures) {
        await assert.rejects(failure(), (error: unknown) => {
          assert.ok(error instanceof BlobStoreUnavailableError, String(error));
          assert.equal(classifyError(error).retryable, true);
          return true;
        });
      }
      const gw = await testGateway({ artifacts: store, authMode: "loopback-open" });
      try {
        const images = [];
        for (const label of ["a", "b"]) {
          for (let i = 0; i < 3; i++)
            images.push({ label, data: (await png(8, 8, 30 * i)).toString("base64") });
        }
        const res = await gw.app.inject({
          method: "POST",
          url: "/v1/datasets",
          headers: { "idempotency-key": idemKey() },
          payload: { name: "inline", images, size: 8 },
        });
        assert.equal(res.statusCode, 503, res.body);
        assert.equal(res.json().code, "unavailable");
      } finally {
        await gw.close();
      }
    } finally {
      dead.destroy();
    }
  });

  test("openBlobStore checks the bucket at boot: a missing bucket or a dead endpoint is a ConfigError", async () => {
    const env = (extra: Record<string, string>) => loadGatewayEnv({ ...s3.env, ...extra });
    process.env.AWS_ACCESS_KEY_ID ??= s3.env.AWS_ACCESS_KEY_ID;
    process.env.AWS_SECRET_ACCESS_KEY ??= s3.env.AWS_SECRET_ACCESS_KEY;
    const store = await openBlobStore(env({ S3_PREFIX: "boot/" }));
    assert.ok(store instanceof S3BlobStore);
    assert.equal(store.prefix, "boot/");
    await assert.rejects(openBlobStore(env({ S3_BUCKET: "no-such-bucket" })), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.deepEqual(
        error.issues.map((i) => i.name),
        ["S3_BUCKET"],
      );
      assert.match(error.message, /HeadBucket failed/);
      return true;
    });
    // With S3_CREATE_BUCKET a missing bucket is made at boot (an in-cluster MinIO starts empty).
    const created = await openBlobStore(env({ S3_BUCKET: "made-at-boot", S3_CREATE_BUCKET: "true" }));
    const put = await created.put(new TextEncoder().encode("in the new bucket"));
    assert.ok(await created.has(put.sha256));
    assert.ok(await openBlobStore(env({ S3_BUCKET: "made-at-boot" })), "it exists from then on");
    const dead = `http://127.0.0.1:${await closedPort()}`;
    await assert.rejects(openBlobStore(env({ S3_ENDPOINT: dead }), 5_000), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.match(error.message, new RegExp(`reachable at ${dead.replace(/[.]/g, "\\.")}`));
      return true;
    });
    assert.throws(
      () => loadGatewayEnv({ ARTIFACT_STORE: "s3" }),
      (error: unknown) =>
        error instanceof ConfigError && error.issues.map((i) => i.name).join() === "S3_BUCKET",
    );
    assert.throws(
      () =>
        loadGatewayEnv({
          ...s3.env,
          S3_PREFIX: "/leading",
          S3_PART_BYTES: "1024",
          S3_PRESIGN_TTL_SECONDS: "0",
        }),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.issues.map((i) => i.name).join() === "S3_PREFIX,S3_PRESIGN_TTL_SECONDS,S3_PART_BYTES",
    );
  });

  test("the gateway process refuses to start when the bucket is unreachable: exit code 2 and why", async () => {
    const main = fileURLToPath(new URL("./main.ts", import.meta.url));
    const result = spawnSync(process.execPath, ["--import", "tsx", main], {
      env: {
        ...process.env,
        ...s3.env,
        S3_ENDPOINT: `http://127.0.0.1:${await closedPort()}`,
        PORT: "0",
      },
      encoding: "utf8",
      timeout: 60_000,
    });
    assert.equal(result.status, 2, result.stderr);
    assert.match(result.stderr, /S3_BUCKET: expected a bucket reachable at http:\/\/127\.0\.0\.1:\d+/);
  });
});
