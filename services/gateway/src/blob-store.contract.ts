/**
 * The behaviour every {@link BlobStore} keeps, as one suite: blob-store.local.test.ts runs it on the
 * local directory, blob-store.s3.test.ts on a bucket of an in-process S3 server.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { type BlobStore, blobPathOf, sha256Hex } from "./blob-store.js";

/** A fresh, empty store and how to dispose of it. */
export interface ContractSubject {
  store: BlobStore;
  /** Blobs larger than this take the store's chunked path (multipart on S3); undefined: none. */
  largeBytes?: number;
  close(): Promise<void>;
}

async function collect(iterable: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const item of iterable) {
    out.push(item);
    if (out.length > 10_000) throw new Error("digests() does not end");
  }
  return out;
}

async function drain(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Registers the suite; `open` makes an empty store. */
export function blobStoreContract(name: string, open: () => Promise<ContractSubject>): void {
  describe(`BlobStore contract: ${name}`, () => {
    let subject: ContractSubject;
    let store: BlobStore;

    before(async () => {
      subject = await open();
      store = subject.store;
    });
    after(() => subject?.close());

    test("put stores bytes under their digest; has, read, stream, size and info see them", async () => {
      const bytes = randomBytes(1000);
      const started = Date.now();
      const blob = await store.put(bytes);
      assert.deepEqual(blob, { sha256: sha256Hex(bytes), bytes: 1000, path: blobPathOf(sha256Hex(bytes)) });
      assert.equal(await store.has(blob.sha256), true);
      assert.deepEqual(await store.read(blob.sha256), bytes);
      assert.deepEqual(await drain(await store.stream(blob.sha256)), bytes);
      assert.equal(await store.size(blob.sha256), 1000);
      const info = await store.info(blob.sha256);
      assert.equal(info?.bytes, 1000);
      // S3 keeps LastModified in whole seconds.
      assert.ok(
        info && info.modifiedMs >= started - 1000 && info.modifiedMs <= Date.now() + 1000,
        String(info?.modifiedMs),
      );
    });

    test("a missing blob: has is false, read and stream reject with ENOENT, size and info are undefined", async () => {
      const missing = sha256Hex(randomBytes(16));
      assert.equal(await store.has(missing), false);
      await assert.rejects(store.read(missing), { code: "ENOENT" });
      await assert.rejects(store.stream(missing), { code: "ENOENT" });
      assert.equal(await store.size(missing), undefined);
      assert.equal(await store.info(missing), undefined);
      await store.delete(missing); // deleting what is not there is fine
    });

    test("anything but a digest is refused before the store is asked", async () => {
      for (const bad of ["../etc/passwd", "ABC", "a".repeat(63), `${"a".repeat(63)}/`, "G".repeat(64)]) {
        await assert.rejects(async () => store.has(bad), TypeError, bad);
        await assert.rejects(async () => store.read(bad), TypeError, bad);
        await assert.rejects(async () => store.delete(bad), TypeError, bad);
      }
    });

    test("the same content twice is stored once; concurrent writers of one blob both succeed", async () => {
      const bytes = randomBytes(500);
      const digest = sha256Hex(bytes);
      await store.put(bytes);
      await store.put(Buffer.from(bytes));
      const results = await Promise.all([store.put(bytes), store.put(bytes), store.put(bytes)]);
      for (const result of results) assert.equal(result.sha256, digest);
      const listed = (await collect(store.digests())).filter((d) => d === digest);
      assert.deepEqual(listed, [digest]);
      assert.deepEqual(await store.read(digest), bytes);
    });

    test("a put of stored content counts as a fresh write for garbage collection", async () => {
      const bytes = randomBytes(300);
      const blob = await store.put(bytes);
      const first = await store.info(blob.sha256);
      await sleep(30);
      await store.put(bytes);
      const second = await store.info(blob.sha256);
      assert.ok(
        first && second && second.modifiedMs > first.modifiedMs,
        `${first?.modifiedMs} → ${second?.modifiedMs}`,
      );
      assert.equal(second?.bytes, 300);
    });

    test("digests lists every blob once, in ascending order; delete removes one", async () => {
      const blobs = await Promise.all(Array.from({ length: 7 }, () => store.put(randomBytes(64))));
      const listed = await collect(store.digests());
      assert.deepEqual([...listed].sort(), listed, "ascending");
      assert.equal(new Set(listed).size, listed.length, "each once");
      for (const blob of blobs) assert.ok(listed.includes(blob.sha256));
      await store.delete(blobs[3].sha256);
      assert.equal(await store.has(blobs[3].sha256), false);
      const after = await collect(store.digests());
      assert.equal(after.includes(blobs[3].sha256), false);
      assert.equal(after.length, listed.length - 1);
      await assert.rejects(store.read(blobs[3].sha256), { code: "ENOENT" });
    });

    test("removing stale leftovers never touches a stored blob", async () => {
      const blob = await store.put(randomBytes(100));
      const removed = await store.removeStaleTemp(0, Date.now() + 3_600_000);
      assert.ok(Number.isInteger(removed) && removed >= 0);
      assert.equal(await store.has(blob.sha256), true);
    });

    test("a large blob round-trips whole through read and stream", async () => {
      const bytes = randomBytes((subject.largeBytes ?? 256 * 1024) * 3 + 12_345);
      const blob = await store.put(bytes);
      assert.equal(blob.bytes, bytes.length);
      assert.equal(sha256Hex(await store.read(blob.sha256)), blob.sha256);
      assert.equal(sha256Hex(await drain(await store.stream(blob.sha256))), blob.sha256);
      assert.equal(await store.size(blob.sha256), bytes.length);
    });
  });
}
