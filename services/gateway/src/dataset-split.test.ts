/**
 * A test split the user controls: an archive of train/ and test/ folders, or JSON images marked with their
 * split, is taken exactly as given, and what the jobs receive (`images()`) is the user's train images for
 * training and the user's test images for evaluation; without a user split the seeded hold-out stays as
 * it was. `GET /v1/datasets/{id}/files` shows every image with its split, uploads and built-in tasks
 * alike. The refusals of bad splits are in bad-input.test.ts.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { decodePng } from "../../../shared/data/index.js";
import { noisePng } from "../../../shared/data/test-images.js";
import { sha256Hex } from "./artifact-store.js";
import {
  type DatasetFile,
  DatasetService,
  type DatasetSpec,
  type RealImage,
} from "./datasets/dataset-service.js";
import type { Dataset, JobStore } from "./store/index.js";
import {
  bearer,
  idemKey,
  openTestStore,
  png,
  TEST_LIMITS,
  type TestGateway,
  testGateway,
  zipToBuffer,
} from "./test-support.js";

/** Files of an archive by entry name. */
type Files = Record<string, Uint8Array>;

describe("datasets: a test split the user controls", () => {
  let store: JobStore;
  let gw: TestGateway;
  let headers: Record<string, string>;
  /** The job-facing view of the same store and artifacts the app writes to. */
  let service: DatasetService;
  before(async () => {
    store = await openTestStore();
    gw = await testGateway({ store });
    headers = (await bearer(store, ["submit", "read"])).headers;
    service = new DatasetService({
      datasets: store.datasets,
      artifacts: gw.artifacts,
      limits: TEST_LIMITS.upload,
    });
  });
  after(async () => {
    await gw?.close();
    await store?.close();
  });

  /** Posts a zip of `files` and returns the registered dataset (asserting 201). */
  async function postArchive(files: Files, query = ""): Promise<Dataset> {
    const res = await gw.app.inject({
      method: "POST",
      url: `/v1/datasets${query}`,
      headers: { ...headers, "content-type": "application/zip", "idempotency-key": idemKey() },
      payload: await zipToBuffer(
        Object.entries(files).map(([name, bytes]) => ({ name, read: async () => bytes })),
      ),
    });
    assert.equal(res.statusCode, 201, res.body);
    return (await store.datasets.get(res.json().id))!;
  }

  /** Every file of a dataset, following the cursor `limit` at a time (asserting each page is 200). */
  async function listFiles(id: string, query = "", limit = 100): Promise<DatasetFile[]> {
    const files: DatasetFile[] = [];
    let cursor: string | null = null;
    do {
      const after: string = cursor === null ? "" : `&cursor=${cursor}`;
      const res = await gw.app.inject({
        method: "GET",
        url: `/v1/datasets/${id}/files?limit=${limit}${query}${after}`,
        headers,
      });
      assert.equal(res.statusCode, 200, res.body);
      const page = res.json() as { items: DatasetFile[]; nextCursor: string | null };
      assert.ok(page.items.length <= limit);
      files.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor !== null);
    return files;
  }

  /** What the listing says of the images the jobs get: the same digests in the same order. */
  async function assertListingMatchesImages(dataset: Dataset): Promise<void> {
    const images = await service.images(dataset);
    const digests = (list: RealImage[]) => list.map((image) => sha256Hex(image.png));
    const files = await listFiles(dataset.id);
    for (const split of ["train", "test"] as const) {
      assert.deepEqual(
        files.filter((file) => file.split === split).map((file) => file.sha256),
        digests(images[split]),
        split,
      );
      assert.deepEqual(
        (await listFiles(dataset.id, `&split=${split}`)).map((file) => file.sha256),
        digests(images[split]),
        `?split=${split}`,
      );
    }
  }

  /** A solid gray PNG: its value tells the image apart after normalisation. */
  const gray = (value: number) => png(12, 10, value);

  /** The gray value and label of each image, as the jobs receive them. */
  const grays = (images: RealImage[]) =>
    Promise.all(
      images.map(async (image) => ({
        value: Math.round((await decodePng(image.png, { channels: 1 })).data[0] * 255),
        label: image.label,
      })),
    );

  test("a train/ and test/ archive is the split as given: nothing is held out of train/", async () => {
    const dataset = await postArchive(
      {
        "train/cat/a.png": await gray(10),
        "train/cat/b.png": await gray(20),
        "train/cat/c.png": await gray(30),
        "train/dog/a.png": await gray(40),
        "train/dog/b.png": await gray(50),
        "test/cat/a.png": await gray(200), // the same file name as in train/: another image
        "test/dog/z.png": await gray(210),
        "test/dog/y.png": await gray(220),
      },
      "?testFraction=0.5&splitSeed=3", // ignored: the archive brings its split
    );
    const resource = (
      await gw.app.inject({ method: "GET", url: `/v1/datasets/${dataset.id}`, headers })
    ).json();
    assert.deepEqual(
      [resource.split, resource.trainCount, resource.testCount, resource.imageCount],
      ["user", 5, 3, 8],
    );
    assert.deepEqual(resource.classes, ["cat", "dog"]);
    assert.equal("testFraction" in (dataset.spec as DatasetSpec), false, "no hold-out is recorded");
    const images = await service.images(dataset);
    assert.deepEqual(await grays(images.train), [
      { value: 10, label: 0 },
      { value: 20, label: 0 },
      { value: 30, label: 0 },
      { value: 40, label: 1 },
      { value: 50, label: 1 },
    ]);
    assert.deepEqual(await grays(images.test), [
      { value: 200, label: 0 },
      { value: 220, label: 1 },
      { value: 210, label: 1 },
    ]);
    const listed = (await listFiles(dataset.id, "", 3)).map(({ name, class: c, split }) => [name, c, split]);
    assert.deepEqual(listed, [
      ["train/cat/a.png", "cat", "train"],
      ["train/cat/b.png", "cat", "train"],
      ["train/cat/c.png", "cat", "train"],
      ["test/cat/a.png", "cat", "test"],
      ["train/dog/a.png", "dog", "train"],
      ["train/dog/b.png", "dog", "train"],
      ["test/dog/y.png", "dog", "test"],
      ["test/dog/z.png", "dog", "test"],
    ]);
    await assertListingMatchesImages(dataset);
  });

  test("a class in train/ but not in test/ is allowed (its accuracy will be undefined)", async () => {
    const dataset = await postArchive({
      "train/cat/0.png": await gray(1),
      "train/dog/0.png": await gray(2),
      "train/dog/1.png": await gray(3),
      "test/cat/0.png": await gray(4),
    });
    assert.deepEqual(dataset.classes, ["cat", "dog"]);
    const images = await service.images(dataset);
    assert.deepEqual(
      (await grays(images.test)).map((image) => image.label),
      [0],
      "only cat is tested",
    );
    assert.equal(images.train.length, 3);
  });

  test("JSON images marked test are the test split; unmarked ones train; without a test mark, the hold-out", async () => {
    const image = async (label: string, value: number, split?: "train" | "test") => ({
      label,
      data: (await gray(value)).toString("base64"),
      ...(split !== undefined ? { split } : {}),
    });
    const images = [
      await image("a", 10, "train"),
      await image("a", 20),
      await image("a", 30, "test"),
      await image("b", 40),
      await image("b", 50, "test"),
      await image("b", 60, "test"),
    ];
    const post = (payload: object) =>
      gw.app.inject({
        method: "POST",
        url: "/v1/datasets",
        headers: { ...headers, "idempotency-key": idemKey() },
        payload,
      });
    const res = await post({ images, size: 8, testFraction: 0.9 });
    assert.equal(res.statusCode, 201, res.body);
    assert.deepEqual([res.json().split, res.json().trainCount, res.json().testCount], ["user", 3, 3]);
    const got = await service.images((await store.datasets.get(res.json().id))!);
    assert.deepEqual(
      (await grays(got.train)).map((i) => i.value),
      [10, 20, 40],
    );
    assert.deepEqual(
      (await grays(got.test)).map((i) => i.value),
      [30, 50, 60],
    );
    assert.deepEqual(
      (await listFiles(res.json().id)).map((file) => `${file.split} ${file.name}`),
      [
        "train train/a/0",
        "train train/a/1",
        "test test/a/2",
        "train train/b/3",
        "test test/b/4",
        "test test/b/5",
      ],
    );
    // Marked train only: no user split, so the seeded hold-out of today.
    const trainOnly = await post({ images: images.map((i) => ({ ...i, split: "train" })), size: 8 });
    assert.equal(trainOnly.statusCode, 201, trainOnly.body);
    assert.deepEqual([trainOnly.json().split, trainOnly.json().testCount], ["holdout", 2]);
  });

  test("a poisoned test split does not change a single byte of what training receives", async () => {
    const train: Files = {};
    for (let i = 0; i < 4; i++) {
      train[`train/cat/${i}.png`] = await gray(20 + i);
      train[`train/dog/${i}.png`] = await gray(120 + i);
    }
    const clean = await postArchive({
      ...train,
      "test/cat/0.png": await gray(30),
      "test/dog/0.png": await gray(130),
    });
    const poisoned = await postArchive({
      ...train,
      "test/cat/0.png": await noisePng(64, 7),
      "test/cat/1.png": await noisePng(16, 8),
      "test/dog/0.png": await noisePng(40, 9),
    });
    const [a, b] = [await service.images(clean), await service.images(poisoned)];
    assert.equal(a.train.length, 8);
    assert.deepEqual(
      b.train.map((image) => [Buffer.from(image.png).toString("base64"), image.label]),
      a.train.map((image) => [Buffer.from(image.png).toString("base64"), image.label]),
    );
    assert.equal(b.test.length, 3);
    assert.notDeepEqual(b.test, a.test);
  });

  test("without a user split the hold-out is as before: classes called train and test are just classes", async () => {
    const dataset = await postArchive({
      "train/0.png": await gray(1),
      "train/1.png": await gray(2),
      "test/0.png": await gray(3),
      "test/1.png": await gray(4),
    });
    assert.deepEqual(dataset.classes, ["test", "train"]);
    const spec = dataset.spec as Record<string, unknown>;
    assert.deepEqual([spec.split, spec.testFraction, spec.splitSeed, spec.testCount], ["holdout", 0.2, 0, 2]);
  });

  test("the hold-out listing is the same for the same splitSeed, and follows the seed", async () => {
    const files: Files = {};
    for (let i = 0; i < 10; i++) {
      files[`cat/${i}.png`] = await gray(i);
      files[`dog/${i}.png`] = await gray(100 + i);
    }
    const splitOf = async (seed: number) => {
      const dataset = await postArchive(files, `?splitSeed=${seed}&testFraction=0.2`);
      assert.equal((dataset.spec as DatasetSpec).testCount, 4);
      return (await listFiles(dataset.id)).map((file) => `${file.split} ${file.name}`);
    };
    const first = await splitOf(5);
    assert.deepEqual(await splitOf(5), first);
    assert.equal(first.filter((line) => line.startsWith("test ")).length, 4);
    assert.notDeepEqual(await splitOf(6), first);
  });

  test("a built-in task lists its picked images as <class>/<index> with the digests the jobs get", async () => {
    const res = await gw.app.inject({
      method: "POST",
      url: "/v1/datasets",
      headers: { ...headers, "idempotency-key": idemKey() },
      payload: { builtin: "fashion-mnist", shots: 2, seed: 4, classes: ["bag", "sneaker"], testPerClass: 3 },
    });
    assert.equal(res.statusCode, 201, res.body);
    assert.equal(res.json().split, "builtin");
    const dataset = (await store.datasets.get(res.json().id))!;
    const files = await listFiles(dataset.id, "", 4);
    assert.deepEqual(
      files.map((file) => `${file.split} ${file.class}`),
      [
        ...["bag", "bag", "sneaker", "sneaker"].map((c) => `train ${c}`),
        ...["bag", "bag", "bag", "sneaker", "sneaker", "sneaker"].map((c) => `test ${c}`),
      ],
    );
    for (const file of files) assert.match(file.name, new RegExp(`^${file.class}/\\d+$`));
    assert.equal(new Set(files.map((file) => file.name)).size, files.length, "train and test are disjoint");
    await assertListingMatchesImages(dataset);
  });

  test("the listing is paged and filtered like the other lists; bad cursors are 400; others' datasets 404", async () => {
    const dataset = await postArchive({
      "train/a/0.png": await gray(1),
      "train/a/1.png": await gray(2),
      "test/a/0.png": await gray(3),
    });
    const get = (query: string, auth = headers) =>
      gw.app.inject({ method: "GET", url: `/v1/datasets/${dataset.id}/files${query}`, headers: auth });
    const first = (await get("?limit=2")).json();
    assert.equal(first.items.length, 2);
    const rest = (await get(`?limit=2&cursor=${first.nextCursor}`)).json();
    assert.deepEqual(
      rest.items.map((file: DatasetFile) => file.name),
      ["test/a/0.png"],
    );
    assert.equal(rest.nextCursor, null);
    const tests = (await get("?split=test")).json();
    assert.deepEqual(
      tests.items.map((file: DatasetFile) => file.name),
      ["test/a/0.png"],
    );
    const keyset = (await gw.app.inject({ method: "GET", url: "/v1/datasets?limit=1", headers })).json();
    for (const cursor of ["garbage", keyset.nextCursor, Buffer.from('{"at":-1}').toString("base64url")]) {
      const bad = await get(`?cursor=${cursor}`);
      assert.equal(bad.statusCode, 400, cursor);
      assert.equal(bad.json().code, "invalid_cursor");
    }
    const badSplit = await get("?split=validation");
    assert.equal(badSplit.statusCode, 400);
    assert.equal(badSplit.json().errors[0].field, "/query/split");
    const stranger = (await bearer(store, ["read"])).headers;
    assert.equal((await get("", stranger)).statusCode, 404);
  });
});
