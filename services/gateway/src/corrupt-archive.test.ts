/**
 * Corrupted uploads: every single-bit flip of a small valid zip — at 200 seeded random positions and at
 * every bit of the central directory's entry names — and of a small tar.gz — at 300 seeded positions,
 * and 100 in the header blocks of the same tar uncompressed — is either refused as a 4xx archive problem
 * that writes nothing, or registers exactly the dataset the intact archive does (same classes, same
 * manifest digest: same images, labels, names and split). Never a 5xx, never silently different data.
 * (A flip in a plain tar's file data is not caught by tar, which has no data checksum: hence tar.gz.)
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { gzipSync } from "node:zlib";
import { Rng } from "../../../shared/random/index.js";
import { API_ERRORS, type ApiErrorCode } from "./errors.js";
import type { JobStore } from "./store/index.js";
import {
  bearer,
  craftTar,
  craftZip,
  idemKey,
  openTestStore,
  png,
  type TestGateway,
  testGateway,
} from "./test-support.js";

/** The codes a damaged archive may be refused with (which one depends on where the bit lands). */
const ARCHIVE_CODES: ApiErrorCode[] = [
  "archive_invalid",
  "archive_unsafe_path",
  "archive_bomb",
  "too_many_files",
];

/** Byte offsets of every entry name in the central directory of `zip`. */
function centralNameBytes(zip: Buffer): number[] {
  const eocd = zip.length - 22;
  const count = zip.readUInt16LE(eocd + 10);
  const offsets: number[] = [];
  let at = zip.readUInt32LE(eocd + 16);
  for (let i = 0; i < count; i++) {
    const nameLength = zip.readUInt16LE(at + 28);
    for (let j = 0; j < nameLength; j++) offsets.push(at + 46 + j);
    at += 46 + nameLength + zip.readUInt16LE(at + 30) + zip.readUInt16LE(at + 32);
  }
  return offsets;
}

describe("corrupted archives: a flipped bit is refused as a 4xx or changes nothing", () => {
  let store: JobStore;
  let gw: TestGateway;
  let headers: Record<string, string>;
  let archive: Buffer;
  let original: { classes: string[]; manifest: string };

  const postArchive = (body: Buffer, contentType = "application/zip") =>
    gw.app.inject({
      method: "POST",
      url: "/v1/datasets?size=8",
      headers: { ...headers, "content-type": contentType, "idempotency-key": idemKey() },
      payload: body,
    });

  /** The classes and manifest digest of the dataset a 201 created. */
  async function registered(id: string): Promise<{ classes: string[]; manifest: string }> {
    const row = await store.datasets.get(id);
    assert.ok(row);
    return { classes: row.classes, manifest: (row.spec as { manifest: string }).manifest };
  }

  before(async () => {
    store = await openTestStore();
    gw = await testGateway({ store });
    headers = (await bearer(store, ["submit", "read"])).headers;
    // Both compression methods, two classes whose names differ in one letter's case after one flip.
    archive = craftZip([
      { name: "cat/0.png", data: await png(4, 4, 10) },
      { name: "cat/1.png", data: await png(4, 4, 60), method: "store" },
      { name: "dog/0.png", data: await png(4, 4, 110), method: "store" },
      { name: "dog/1.png", data: await png(4, 4, 160) },
    ]);
    const res = await postArchive(archive);
    assert.equal(res.statusCode, 201, res.body);
    original = await registered(res.json().id);
  });
  after(async () => {
    await gw?.close();
    await store?.close();
  });

  /**
   * Posts `archive` with each flip applied and returns what misbehaved (a 5xx, a non-archive code, a row
   * written by a refusal, a different dataset accepted) and how many flips were refused.
   */
  async function flipEach(
    archive: Buffer,
    flips: { byte: number; bit: number }[],
    contentType: string,
    original: { classes: string[]; manifest: string },
  ): Promise<{ wrong: string[]; refused: number }> {
    const wrong: string[] = [];
    let refused = 0;
    for (const { byte, bit } of flips) {
      const damaged = Buffer.from(archive);
      damaged[byte] ^= 1 << bit;
      const rowsBefore = (await store.datasets.list({ limit: 100 })).items.length;
      const res = await postArchive(damaged, contentType);
      const where = `byte ${byte} bit ${bit}`;
      if (res.statusCode === 201) {
        const got = await registered(res.json().id);
        if (JSON.stringify(got) !== JSON.stringify(original)) {
          wrong.push(`${where}: accepted as a different dataset ${JSON.stringify(got.classes)}`);
        }
        continue;
      }
      refused++;
      const code = (res.json() as { code: ApiErrorCode }).code;
      if (
        res.statusCode >= 500 ||
        !ARCHIVE_CODES.includes(code) ||
        API_ERRORS[code].status !== res.statusCode ||
        !String(res.headers["content-type"]).startsWith("application/problem+json")
      ) {
        wrong.push(`${where}: ${res.statusCode} ${res.body}`);
      }
      const rowsAfter = (await store.datasets.list({ limit: 100 })).items.length;
      if (rowsAfter !== rowsBefore) wrong.push(`${where}: refused but a row was written`);
    }
    return { wrong, refused };
  }

  test("every flip is a 4xx archive problem that writes nothing, or the very same dataset", async () => {
    // Seeded, so that a failure names a flip that reproduces.
    const rng = new Rng(20240531);
    const flips: { byte: number; bit: number }[] = [];
    for (let i = 0; i < 200; i++) {
      flips.push({ byte: rng.nextInt(archive.length), bit: rng.nextInt(8) });
    }
    for (const byte of centralNameBytes(archive)) {
      for (let bit = 0; bit < 8; bit++) flips.push({ byte, bit });
    }
    const { wrong, refused } = await flipEach(archive, flips, "application/zip", original);
    assert.deepEqual(wrong, [], `${wrong.length} of ${flips.length} flips misbehaved`);
    assert.ok(refused > flips.length / 2, `only ${refused} of ${flips.length} flips were refused`);
  });

  test("a tar.gz, and a tar's headers, likewise: every flip refused or the very same dataset", async () => {
    const tar = craftTar([
      { name: "cat", type: "5" },
      { name: "cat/0.png", data: await png(4, 4, 10) },
      { name: "cat/1.png", data: await png(4, 4, 60) },
      { name: "dog/0.png", data: await png(4, 4, 110) },
      { name: "dog/1.png", data: await png(4, 4, 160) },
    ]);
    const tgz = gzipSync(tar);
    const intact = await postArchive(tgz, "application/gzip");
    assert.equal(intact.statusCode, 201, intact.body);
    const tarOriginal = await registered(intact.json().id);
    // The same images as the zip above, so the very same dataset.
    assert.deepEqual(tarOriginal, original);
    const rng = new Rng(20261207);
    const flips = Array.from({ length: 300 }, () => ({ byte: rng.nextInt(tgz.length), bit: rng.nextInt(8) }));
    const gz = await flipEach(tgz, flips, "application/gzip", original);
    assert.deepEqual(gz.wrong, [], `${gz.wrong.length} of ${flips.length} tar.gz flips misbehaved`);
    assert.ok(
      gz.refused > flips.length / 2,
      `only ${gz.refused} of ${flips.length} tar.gz flips were refused`,
    );
    // Header blocks: at 0, then after each entry's data (each PNG here fits in one block).
    const headers = [0, 512, 1536, 2560, 3584];
    const headerFlips = Array.from({ length: 100 }, () => ({
      byte: headers[rng.nextInt(headers.length)] + rng.nextInt(512),
      bit: rng.nextInt(8),
    }));
    const plain = await flipEach(tar, headerFlips, "application/x-tar", original);
    assert.deepEqual(plain.wrong, [], `${plain.wrong.length} tar header flips misbehaved`);
    assert.ok(plain.refused > 90, `only ${plain.refused} of 100 tar header flips were refused`);
  });
});
