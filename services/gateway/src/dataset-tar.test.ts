/**
 * Tar and tar.gz dataset uploads through `POST /v1/datasets`: the same images uploaded as a zip, a tar
 * and a tar.gz register the very same dataset (classes, split, manifest digest), and every refusal
 * answers what the zip path answers for the same fault — and writes nothing.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { constants, gzipSync } from "node:zlib";
import { TAR_TYPES, ZIP_TYPES } from "./archive/read-archive.js";
import type { JobStore } from "./store/index.js";
import {
  bearer,
  craftTar,
  craftZip,
  idemKey,
  openTestStore,
  png,
  type TestGateway,
  tarHeader,
  testGateway,
  zipToBuffer,
} from "./test-support.js";

/** The fields of a problem document these tests read. */
interface Problem {
  code: string;
  detail: string;
  instance: string;
}

let hasTar = true;
try {
  execFileSync("tar", ["--version"], { stdio: "ignore" });
} catch {
  hasTar = false;
}

describe("datasets: tar and tar.gz uploads", { skip: hasTar ? false : "no tar on this machine" }, () => {
  let store: JobStore;
  let gw: TestGateway;
  let headers: Record<string, string>;
  let dir: string;
  /** Image files by name, classes layout and train/ + test/ layout. */
  const images: Record<string, Buffer> = {};
  const split: Record<string, Buffer> = {};

  before(async () => {
    store = await openTestStore();
    gw = await testGateway({ store });
    headers = (await bearer(store, ["submit", "read"])).headers;
    dir = mkdtempSync(join(tmpdir(), "dataset-tar-"));
    for (const [i, name] of ["cat/0.png", "cat/1.png", "cat/2.png", "dog/0.png", "dog/1.png"].entries()) {
      images[name] = await png(6, 5, 30 * i);
      split[`${i % 2 === 0 ? "train" : "test"}/${name}`] = images[name];
    }
    split["train/dog/1.png"] = images["dog/1.png"];
    delete split["test/dog/1.png"];
  });
  after(async () => {
    await gw?.close();
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const post = (body: Buffer, contentType: string, query = "?size=8") =>
    gw.app.inject({
      method: "POST",
      url: `/v1/datasets${query}`,
      headers: { ...headers, "content-type": contentType, "idempotency-key": idemKey() },
      payload: body,
    });

  /** `files` written to a fresh folder and archived there by the system tar with `args` (names `./…`). */
  function systemTar(files: Record<string, Buffer>, args: string[]): Buffer {
    const root = mkdtempSync(join(dir, "src-"));
    for (const [name, bytes] of Object.entries(files)) {
      mkdirSync(dirname(join(root, name)), { recursive: true });
      writeFileSync(join(root, name), bytes);
    }
    const out = join(dir, `${Math.random().toString(36).slice(2)}.tar`);
    execFileSync("tar", [...args, out, "-C", root, "."]);
    return readFileSync(out);
  }

  const zipOf = (files: Record<string, Buffer>) =>
    zipToBuffer(Object.entries(files).map(([name, bytes]) => ({ name, read: async () => bytes })));

  /** What makes two registrations the same dataset: classes, counts, split and the manifest digest. */
  async function identity(res: { statusCode: number; body: string; json(): { id: string } }) {
    assert.equal(res.statusCode, 201, res.body);
    const row = await store.datasets.get(res.json().id);
    assert.ok(row);
    const files = await gw.app.inject({ method: "GET", url: `/v1/datasets/${row.id}/files`, headers });
    return { classes: row.classes, imageCount: row.imageCount, spec: row.spec, files: files.json().items };
  }

  /** Runs `refuse`, checks it left no row and no file, and returns its status and code. */
  async function refusal(refuse: () => Promise<{ statusCode: number; json(): Problem }>) {
    const filesBefore = (await gw.files()).sort();
    const rowsBefore = (await store.datasets.list({ limit: 100 })).items.length;
    const res = await refuse();
    assert.deepEqual((await gw.files()).sort(), filesBefore, "no file was written");
    assert.equal((await store.datasets.list({ limit: 100 })).items.length, rowsBefore, "no row was written");
    return { status: res.statusCode, code: res.json().code, body: res.json() };
  }

  test("a zip, a tar and a tar.gz of the same images register the same dataset, manifest and all", async () => {
    for (const files of [images, split]) {
      const zip = await identity(await post(await zipOf(files), "application/zip"));
      const tgz = await identity(await post(systemTar(files, ["--format=pax", "-czf"]), "application/gzip"));
      const tar = await identity(await post(systemTar(files, ["--format=gnu", "-cf"]), "application/x-tar"));
      const labelled = await identity(
        await post(systemTar(files, ["-czf"]), "application/x-compressed-tar; charset=binary"),
      );
      assert.deepEqual(tgz, zip);
      assert.deepEqual(tar, zip);
      assert.deepEqual(labelled, zip);
    }
    // The split layout really was taken as the user's split, and the plain one held out.
    assert.equal(
      ((await identity(await post(systemTar(split, ["-czf"]), "application/gzip"))).spec as { split: string })
        .split,
      "user",
    );
  });

  test("a corrupted header checksum or a truncated archive is what a corrupt zip is: 400 archive_invalid", async () => {
    const zip = craftZip([{ name: "cat/0.png", data: images["cat/0.png"], method: "store" }]);
    zip[30 + 9 + 3] ^= 0xff; // a byte of the stored data: the CRC-32 fails
    const zipAnswer = await refusal(() => post(zip, "application/zip"));
    assert.deepEqual([zipAnswer.status, zipAnswer.code], [400, "archive_invalid"]);

    const tar = systemTar(images, ["-cf"]);
    const badSum = Buffer.from(tar);
    badSum[512 + 10] ^= 0x04; // inside the second header's name field
    const truncated = tar.subarray(0, 512 * 4);
    const gzTruncated = gzipSync(tar).subarray(0, 200);
    for (const [what, body, type] of [
      ["checksum", badSum, "application/x-tar"],
      ["checksum in a tar.gz", gzipSync(badSum), "application/gzip"],
      ["truncated", truncated, "application/x-tar"],
      ["truncated tar.gz", gzTruncated, "application/gzip"],
    ] as const) {
      const answer = await refusal(() => post(body, type));
      assert.deepEqual([answer.status, answer.code], [zipAnswer.status, zipAnswer.code], what);
    }
  });

  test("a symlink entry is 400 archive_unsafe_path naming it, as in a zip", async () => {
    const root = mkdtempSync(join(dir, "links-"));
    mkdirSync(join(root, "cat"));
    writeFileSync(join(root, "cat", "0.png"), images["cat/0.png"]);
    symlinkSync("/etc/passwd", join(root, "cat", "1.png"));
    const out = join(dir, "links.tar.gz");
    execFileSync("tar", ["-czf", out, "-C", root, "cat"]);
    const answer = await refusal(() => post(readFileSync(out), "application/gzip"));
    assert.deepEqual([answer.status, answer.code], [400, "archive_unsafe_path"]);
    assert.match(answer.body.detail, /"cat\/1\.png" is a symlink/);
    const zip = await refusal(() =>
      post(
        craftZip([{ name: "cat/1.png", data: Buffer.from("/etc/passwd"), unixMode: 0o120777 }]),
        "application/zip",
      ),
    );
    assert.deepEqual([zip.status, zip.code], [answer.status, answer.code]);
  });

  test("a ../ entry is answered exactly as the zip path answers it", async () => {
    const image = images["cat/0.png"];
    const entries = [
      { name: "cat/0.png", data: image },
      { name: "../../etc/cron.d/x", data: image },
    ];
    const zip = await refusal(() => post(craftZip(entries), "application/zip"));
    const tar = await refusal(() => post(gzipSync(craftTar(entries)), "application/gzip"));
    assert.deepEqual([tar.status, tar.code], [400, "archive_unsafe_path"]);
    assert.deepEqual(tar.body, { ...zip.body, instance: tar.body.instance });
  });

  test("a gzip bomb is 413 archive_bomb, as a zip bomb is", async () => {
    const zip = await refusal(() =>
      post(craftZip([{ name: "cat/0.png", data: Buffer.alloc(4 << 20) }]), "application/zip"),
    );
    // 64 MB of zeros in one entry: far past the ratio cap, and past the 8 MiB the test limits allow.
    const zeros = 64 * 1000 * 1000;
    const bomb = gzipSync(
      Buffer.concat([tarHeader({ name: "cat/0.png", declaredSize: zeros }), Buffer.alloc(zeros + 1024)]),
      { level: constants.Z_BEST_COMPRESSION },
    );
    const tar = await refusal(() => post(bomb, "application/gzip"));
    assert.deepEqual([tar.status, tar.code], [zip.status, zip.code]);
    assert.deepEqual([tar.status, tar.code], [413, "archive_bomb"]);
    assert.match(tar.body.detail, /inflates past \d+ bytes, a ratio above 50/);
  });

  test("a tar sent as a zip (or the reverse) is 400 archive_invalid saying which type to send", async () => {
    const tar = systemTar(images, ["-cf"]);
    const asZip = await refusal(() => post(tar, "application/zip"));
    assert.deepEqual([asZip.status, asZip.code], [400, "archive_invalid"]);
    assert.match(asZip.body.detail, /send it as application\/x-tar/);
    const zip = await zipOf(images);
    const asTar = await refusal(() => post(zip, "application/x-tar"));
    assert.match(asTar.body.detail, /send it as application\/zip/);
  });

  test("a text/plain body is 415 naming every archive type, in the detail and in Accept-Post", async () => {
    const res = await post(Buffer.from("cat/0.png"), "text/plain");
    assert.equal(res.statusCode, 415);
    const accepted = ["application/json", ...ZIP_TYPES, ...TAR_TYPES];
    assert.equal(res.headers["accept-post"], accepted.join(", "));
    assert.match(res.json().detail, new RegExp(`accepts ${accepted.join(", ")}$`));
  });
});
