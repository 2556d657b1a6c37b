import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  decodePng,
  fewShotIndices,
  loadBuiltinDataset,
  TEXTURE_CLASSES,
} from "../../../shared/data/index.js";
import { bombPng } from "../../../shared/data/test-images.js";
import { DatasetService } from "./datasets/dataset-service.js";
import type { JobStore } from "./store/index.js";
import {
  bearer,
  craftZip,
  idemKey,
  openTestStore,
  png,
  TEST_LIMITS,
  type TestGateway,
  testGateway,
  zipToBuffer,
} from "./test-support.js";

describe("datasets: uploads (zip, JSON), built-in tasks, and every refusal leaving nothing behind", () => {
  let store: JobStore;
  let gw: TestGateway;
  let headers: Record<string, string>;
  before(async () => {
    store = await openTestStore();
    gw = await testGateway({ store });
    headers = (await bearer(store, ["submit", "read"])).headers;
  });
  after(async () => {
    await gw?.close();
    await store?.close();
  });

  const postZip = (archive: Buffer, query = "") =>
    gw.app.inject({
      method: "POST",
      url: `/v1/datasets${query}`,
      headers: { ...headers, "content-type": "application/zip", "idempotency-key": idemKey() },
      payload: archive,
    });

  async function folderZip(classes: Record<string, number>): Promise<Buffer> {
    const files = [];
    for (const [name, count] of Object.entries(classes)) {
      for (let i = 0; i < count; i++) {
        const bytes = await png(12, 10, 40 * i);
        files.push({ name: `${name}/${i}.png`, read: async () => bytes });
      }
    }
    return zipToBuffer(files);
  }

  /** Runs `refuse` and checks that it left no dataset row and no file. */
  async function expectNothingWritten<R>(refuse: () => Promise<R>): Promise<R> {
    const filesBefore = (await gw.files()).sort();
    const rowsBefore = (await store.datasets.list({ limit: 100 })).items.length;
    const res = await refuse();
    assert.deepEqual((await gw.files()).sort(), filesBefore, "no file was written");
    assert.equal((await store.datasets.list({ limit: 100 })).items.length, rowsBefore, "no row was written");
    return res;
  }

  test("an ImageFolder zip becomes a dataset: classes, split, normalised PNGs and a manifest", async () => {
    const res = await postZip(
      await folderZip({ cat: 5, dog: 5 }),
      "?name=pets&channels=1&size=16&testFraction=0.2",
    );
    assert.equal(res.statusCode, 201, res.body);
    const dataset = res.json();
    assert.equal(res.headers.location, `/v1/datasets/${dataset.id}`);
    assert.equal(dataset.name, "pets");
    assert.equal(dataset.kind, "upload");
    assert.deepEqual(dataset.classes, ["cat", "dog"]);
    assert.equal(dataset.imageCount, 10);
    assert.equal(dataset.testCount, 2);
    assert.equal(dataset.trainCount, 8);
    assert.deepEqual(dataset.image, { channels: 1, height: 16, width: 16 });
    assert.equal(dataset.builtin, null);
    const files = await gw.files();
    assert.ok(
      files.every((f) => /^sha256\/[0-9a-f]{2}\/[0-9a-f]{62}$/.test(f)),
      files.join(),
    );
    assert.ok(files.length >= 2, "images and the manifest are stored");
    const got = await gw.app.inject({ method: "GET", url: `/v1/datasets/${dataset.id}`, headers });
    assert.equal(got.statusCode, 200);
    assert.deepEqual(got.json(), dataset);
  });

  test("images sent inline as base64 with labels become a dataset", async () => {
    const images = [];
    for (const label of ["a", "b"])
      for (let i = 0; i < 3; i++) images.push({ label, data: (await png(8, 8, 30 * i)).toString("base64") });
    const res = await gw.app.inject({
      method: "POST",
      url: "/v1/datasets",
      headers: { ...headers, "idempotency-key": idemKey() },
      payload: { name: "inline", images, size: 8 },
    });
    assert.equal(res.statusCode, 201, res.body);
    assert.deepEqual(res.json().classes, ["a", "b"]);
    assert.equal(res.json().imageCount, 6);
    assert.deepEqual(res.json().image, { channels: 3, height: 8, width: 8 });
  });

  test("a built-in few-shot task is registered with its class subset and counts", async () => {
    const res = await gw.app.inject({
      method: "POST",
      url: "/v1/datasets",
      headers: { ...headers, "idempotency-key": idemKey() },
      payload: { builtin: "fashion-mnist", shots: 3, seed: 1, classes: ["sneaker", "bag"], testPerClass: 20 },
    });
    assert.equal(res.statusCode, 201, res.body);
    const dataset = res.json();
    assert.equal(dataset.kind, "builtin");
    assert.deepEqual(dataset.classes, ["sneaker", "bag"]);
    assert.equal(dataset.trainCount, 6);
    assert.equal(dataset.testCount, 40);
    assert.deepEqual(dataset.builtin, { name: "fashion-mnist", shots: 3, seed: 1, testPerClass: 20 });
    assert.deepEqual(dataset.image, { channels: 1, height: 28, width: 28 });
  });

  test("the generated textures built-in: a 5-shot task of its 8 classes, materialised as 32×32 RGB PNGs", async () => {
    const res = await gw.app.inject({
      method: "POST",
      url: "/v1/datasets",
      headers: { ...headers, "idempotency-key": idemKey() },
      payload: { builtin: "textures", shots: 5, seed: 0 },
    });
    assert.equal(res.statusCode, 201, res.body);
    const dataset = res.json();
    assert.equal(dataset.kind, "builtin");
    assert.deepEqual(dataset.classes, [...TEXTURE_CLASSES]);
    assert.equal(dataset.trainCount, 40);
    assert.equal(dataset.testCount, 8 * 200);
    assert.equal(dataset.split, "builtin");
    assert.deepEqual(dataset.builtin, { name: "textures", shots: 5, seed: 0, testPerClass: null });
    assert.deepEqual(dataset.image, { channels: 3, height: 32, width: 32 });

    const listed = await gw.app.inject({
      method: "GET",
      url: `/v1/datasets/${dataset.id}/files?split=train&limit=100`,
      headers,
    });
    assert.equal(listed.statusCode, 200, listed.body);
    const names = listed.json().items.map((f: { name: string }) => f.name);
    assert.equal(names.length, 40);
    assert.match(names[0], /^stripes\/\d+$/);

    // What the jobs receive: the drawn images as RGB PNGs, byte for byte the built-in's pixels.
    const service = new DatasetService({
      datasets: store.datasets,
      artifacts: gw.artifacts,
      limits: TEST_LIMITS.upload,
    });
    const images = await service.images((await store.datasets.get(dataset.id))!);
    assert.deepEqual([images.channels, images.height, images.width], [3, 32, 32]);
    assert.equal(images.train.length, 40);
    const source = await loadBuiltinDataset("textures");
    const picked = fewShotIndices(source.labels, source.split, source.classNames, { shots: 5, seed: 0 });
    const size = 3 * 32 * 32;
    for (const i of [0, 39]) {
      const decoded = await decodePng(images.train[i].png);
      assert.deepEqual([decoded.channels, decoded.height, decoded.width], [3, 32, 32]);
      assert.equal(images.train[i].label, source.labels[picked.train[i]]);
      const expected = source.pixels.subarray(picked.train[i] * size, (picked.train[i] + 1) * size);
      assert.deepEqual(
        Array.from(decoded.data, (v) => Math.round(v * 255)),
        Array.from(expected),
      );
    }
  });

  test("an unknown built-in or class is a 400 naming the problem", async () => {
    const unknown = await gw.app.inject({
      method: "POST",
      url: "/v1/datasets",
      headers: { ...headers, "idempotency-key": idemKey() },
      payload: { builtin: "imagenet", shots: 1 },
    });
    assert.equal(unknown.statusCode, 400);
    assert.equal(unknown.json().errors[0].field, "/body/builtin");
    const badClass = await gw.app.inject({
      method: "POST",
      url: "/v1/datasets",
      headers: { ...headers, "idempotency-key": idemKey() },
      payload: { builtin: "mnist", shots: 1, classes: ["eleven"] },
    });
    assert.equal(badClass.statusCode, 400);
    assert.match(badClass.json().detail, /eleven/);
  });

  test("GET /v1/datasets pages newest first; another key's upload is invisible", async () => {
    const mine = await gw.app.inject({ method: "GET", url: "/v1/datasets?limit=2", headers });
    assert.equal(mine.statusCode, 200);
    assert.equal(mine.json().items.length, 2);
    assert.ok(mine.json().nextCursor);
    const next = await gw.app.inject({
      method: "GET",
      url: `/v1/datasets?limit=2&cursor=${mine.json().nextCursor}`,
      headers,
    });
    assert.equal(next.statusCode, 200);
    assert.ok(
      next
        .json()
        .items.every((d: { id: string }) => !mine.json().items.some((m: { id: string }) => m.id === d.id)),
    );
    const stranger = (await bearer(store, ["read"])).headers;
    const theirs = await gw.app.inject({ method: "GET", url: "/v1/datasets", headers: stranger });
    assert.equal(theirs.json().items.length, 0);
    const direct = await gw.app.inject({
      method: "GET",
      url: `/v1/datasets/${mine.json().items[0].id}`,
      headers: stranger,
    });
    assert.equal(direct.statusCode, 404);
    const bad = await gw.app.inject({ method: "GET", url: "/v1/datasets?cursor=garbage", headers });
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().code, "invalid_cursor");
  });

  test("a zip bomb (high ratio) is 413 archive_bomb and writes nothing", async () => {
    const res = await expectNothingWritten(() =>
      postZip(craftZip([{ name: "cat/0.png", data: Buffer.alloc(4 << 20) }])),
    );
    assert.equal(res.statusCode, 413);
    assert.equal(res.json().code, "archive_bomb");
  });

  test("an entry that lies about its size is 413 archive_bomb and writes nothing", async () => {
    const res = await expectNothingWritten(() =>
      postZip(craftZip([{ name: "cat/0.png", data: Buffer.alloc(300 * 1024, 1), declaredSize: 1000 }])),
    );
    assert.equal(res.statusCode, 413);
    assert.equal(res.json().code, "archive_bomb");
  });

  test("a ../ entry is 400 archive_unsafe_path and writes nothing", async () => {
    const image = await png();
    const res = await expectNothingWritten(() =>
      postZip(
        craftZip([
          { name: "cat/0.png", data: image },
          { name: "../../etc/cron.d/x", data: image },
        ]),
      ),
    );
    assert.equal(res.statusCode, 400);
    assert.equal(res.json().code, "archive_unsafe_path");
    assert.equal(res.headers["content-type"], "application/problem+json; charset=utf-8");
  });

  test("a symlink entry is 400 archive_unsafe_path and writes nothing", async () => {
    const res = await expectNothingWritten(() =>
      postZip(craftZip([{ name: "cat/0.png", data: Buffer.from("/etc/passwd"), unixMode: 0o120777 }])),
    );
    assert.equal(res.statusCode, 400);
    assert.equal(res.json().code, "archive_unsafe_path");
  });

  test("an image bomb (30000×30000 declared) is 413 image_too_large and writes nothing", async () => {
    const good = await png();
    const res = await expectNothingWritten(() =>
      postZip(
        craftZip([
          { name: "cat/0.png", data: good },
          { name: "cat/1.png", data: good },
          { name: "dog/bomb.png", data: bombPng(30_000, 30_000) },
        ]),
      ),
    );
    assert.equal(res.statusCode, 413);
    assert.equal(res.json().code, "image_too_large");
  });

  test("a file that is not an image by its magic bytes is 415 unsupported_format and writes nothing", async () => {
    const res = await expectNothingWritten(() =>
      postZip(
        craftZip([
          { name: "cat/0.png", data: Buffer.from("GIF89a not really a png at all") },
          { name: "cat/1.png", data: Buffer.from("#!/bin/sh\nrm -rf /\n") },
        ]),
      ),
    );
    assert.equal(res.statusCode, 415);
    assert.equal(res.json().code, "unsupported_format");
    assert.match(res.json().errors[0].message, /cat\/0\.png/);
  });

  test("more files than allowed is 413 too_many_files and writes nothing", async () => {
    const image = await png(4, 4);
    const entries = Array.from({ length: TEST_LIMITS.upload.maxFiles + 1 }, (_, i) => ({
      name: `c${i % 2}/${i}.png`,
      data: image,
    }));
    const res = await expectNothingWritten(() => postZip(craftZip(entries)));
    assert.equal(res.statusCode, 413);
    assert.equal(res.json().code, "too_many_files");
  });

  test("a body over the upload limit is 413 payload_too_large before it is read", async () => {
    const res = await expectNothingWritten(() => postZip(Buffer.alloc(TEST_LIMITS.uploadBodyBytes + 1)));
    assert.equal(res.statusCode, 413);
    assert.equal(res.json().code, "payload_too_large");
  });

  test("a JSON body over the ordinary limit is 413 on other routes", async () => {
    const res = await gw.app.inject({
      method: "POST",
      url: "/v1/jobs",
      headers: { ...headers, "idempotency-key": idemKey(), "content-type": "application/json" },
      payload: JSON.stringify({ name: "x".repeat(TEST_LIMITS.jsonBodyBytes) }),
    });
    assert.equal(res.statusCode, 413);
    assert.equal(res.json().code, "payload_too_large");
  });

  test("a body that is not a zip is 400 archive_invalid", async () => {
    const res = await expectNothingWritten(() => postZip(Buffer.from("PK but not really")));
    assert.equal(res.statusCode, 400);
    assert.equal(res.json().code, "archive_invalid");
  });

  test("a class with one image leaves nothing to evaluate on: 422 invalid_dataset", async () => {
    const res = await expectNothingWritten(async () => postZip(await folderZip({ only: 1 })));
    assert.equal(res.statusCode, 422);
    assert.equal(res.json().code, "invalid_dataset");
  });

  test("bad upload options and bad base64 are 400 with field paths", async () => {
    const res = await postZip(await folderZip({ a: 2 }), "?channels=2&size=4");
    assert.equal(res.statusCode, 400);
    const fields = res
      .json()
      .errors.map((e: { field: string }) => e.field)
      .sort();
    assert.deepEqual(fields, ["/query/channels", "/query/size"]);
    const json = await gw.app.inject({
      method: "POST",
      url: "/v1/datasets",
      headers: { ...headers, "idempotency-key": idemKey() },
      payload: { images: [{ label: "a/b", data: "***" }] },
    });
    assert.equal(json.statusCode, 400);
    const jsonFields = [...new Set(json.json().errors.map((e: { field: string }) => e.field))].sort();
    assert.deepEqual(jsonFields, ["/body/images/0/data", "/body/images/0/label"]);
  });
});
