import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import sharp from "sharp";
import {
  DataError,
  type DataErrorCode,
  decodeImage,
  decodeImageFolder,
  detectFolderLayout,
  type FolderEntry,
  inspectImage,
  readImageFolder,
  SPLIT_TEST,
  SPLIT_TRAIN,
  sniffFormat,
} from "./index.js";
import { bombPng, corruptPixelsPng, solidImage } from "./test-images.js";

async function rejectsWith(promise: Promise<unknown>, code: DataErrorCode): Promise<DataError> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof DataError, `expected DataError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  return caught;
}

const size = { channels: 1 as const, height: 8, width: 8 };

describe("decodeImage", () => {
  test("PNG, JPEG and WebP decode to float CHW of the asked size and channels", async () => {
    for (const format of ["png", "jpeg", "webp"] as const) {
      const bytes = await solidImage(format, 20, 10, [255, 0, 0]);
      assert.equal(sniffFormat(bytes), format);
      const rgb = await decodeImage(bytes, { channels: 3, height: 4, width: 6 });
      assert.deepEqual([rgb.channels, rgb.height, rgb.width, rgb.data.length], [3, 4, 6, 72]);
      assert.ok(Math.abs(rgb.data[0] - 1) < 0.02, `${format} red`); // channel 0 plane
      assert.ok(rgb.data[24] < 0.02, `${format} green`);
      const gray = await decodeImage(bytes, { channels: 1 });
      assert.deepEqual([gray.channels, gray.height, gray.width], [1, 10, 20]);
      assert.ok(Math.abs(gray.data[0] - 0.299) < 0.03, `${format} luma ${gray.data[0]}`);
    }
  });

  test("an image bomb (tiny file, 30000×30000 declared) is rejected from its header, without allocating", async () => {
    const bomb = bombPng(30_000, 30_000);
    assert.ok(bomb.length < 1_000, `bomb is ${bomb.length} bytes`);
    const before = process.memoryUsage().rss;
    const started = performance.now();
    const error = await rejectsWith(decodeImage(bomb, size), "image_too_large");
    assert.equal(error.details.width, 30_000);
    await rejectsWith(decodeImageFolder([{ name: "cat/bomb.png", bytes: bomb }], size), "image_too_large");
    const grown = process.memoryUsage().rss - before;
    assert.ok(grown < 100 * 1024 * 1024, `rss grew by ${grown} bytes`);
    assert.ok(performance.now() - started < 2_000);
  });

  test("a bomb within maxSide but over maxPixels is rejected too; custom limits apply", async () => {
    await rejectsWith(decodeImage(bombPng(10_000, 10_000)), "image_too_large");
    const small = await solidImage("png", 64, 64, [1, 2, 3]);
    await rejectsWith(
      decodeImage(small, { limits: { maxFileBytes: 1e6, maxPixels: 1000, maxSide: 1000, formats: ["png"] } }),
      "image_too_large",
    );
    await rejectsWith(
      decodeImage(small, { limits: { maxFileBytes: 10, maxPixels: 1e6, maxSide: 1000, formats: ["png"] } }),
      "file_too_large",
    );
  });

  test("formats are judged by signature: GIF, text and truncated bytes are refused", async () => {
    const gif = await solidImage("gif", 4, 4, [0, 0, 0]);
    await rejectsWith(decodeImage(gif), "unsupported_format");
    await rejectsWith(decodeImage(new TextEncoder().encode("<svg></svg>")), "unsupported_format");
    const png = await solidImage("png", 16, 16, [9, 9, 9]);
    await rejectsWith(decodeImage(png.subarray(0, 20)), "corrupt_image");
    const webp = await solidImage("webp", 4, 4, [0, 0, 0]);
    await rejectsWith(
      decodeImage(webp, { limits: { maxFileBytes: 1e6, maxPixels: 1e6, maxSide: 1e3, formats: ["png"] } }),
      "unsupported_format",
    );
  });

  test("EXIF orientation is applied", async () => {
    const raw = Buffer.alloc(4 * 2 * 3, 200);
    const rotated = await sharp(raw, { raw: { width: 4, height: 2, channels: 3 } })
      .jpeg()
      .withMetadata({ orientation: 6 })
      .toBuffer();
    const decoded = await decodeImage(rotated, { channels: 1 });
    assert.deepEqual([decoded.height, decoded.width], [4, 2]);
  });

  test("inspectImage reads the header only", async () => {
    const header = await inspectImage(await solidImage("webp", 7, 3, [0, 0, 0]));
    assert.deepEqual([header.format, header.width, header.height], ["webp", 7, 3]);
  });
});

describe("decodeImageFolder", () => {
  async function upload(): Promise<FolderEntry[]> {
    return [
      { name: "zebra/b.webp", bytes: await solidImage("webp", 5, 5, [255, 255, 255]) },
      { name: "zebra/a.png", bytes: await solidImage("png", 30, 20, [0, 0, 0]) },
      { name: "Apple/x.jpg", bytes: await solidImage("png", 9, 9, [255, 255, 255]) }, // PNG despite the name
      { name: "Apple/.DS_Store", bytes: new Uint8Array([1, 2, 3]) },
      { name: "__MACOSX/Apple/._x.jpg", bytes: new Uint8Array([0]) },
      { name: "Apple/", bytes: new Uint8Array(0) },
    ];
  }

  test("one folder per class: classes in code-point order, files by name, hidden entries skipped", async () => {
    const { set, names } = await decodeImageFolder(await upload(), size);
    assert.deepEqual(set.classNames, ["Apple", "zebra"]);
    assert.deepEqual(names, ["Apple/x.jpg", "zebra/a.png", "zebra/b.webp"]);
    assert.deepEqual([...set.labels], [0, 1, 1]);
    assert.equal(set.images.length, 3 * 64);
    assert.ok(set.images.subarray(0, 64).every((v) => v > 0.99));
    assert.ok(set.images.subarray(64, 128).every((v) => v < 0.01));
    const reversed = await decodeImageFolder((await upload()).reverse(), size);
    assert.deepEqual(reversed.set.images, set.images, "entry order does not matter");
  });

  test("unsafe names are refused", async () => {
    const png = await solidImage("png", 2, 2, [0, 0, 0]);
    for (const name of [
      "../x.png",
      "cat/../x.png",
      "/etc/x.png",
      "cat\\x.png",
      "cat//x.png",
      "ca\u0000t/x.png",
      "./cat/x.png",
      "c:a/x.png",
      " cat/x.png",
    ]) {
      await rejectsWith(decodeImageFolder([{ name, bytes: png }], size), "invalid_name");
    }
    await rejectsWith(decodeImageFolder([{ name: "a/b/c.png", bytes: png }], size), "invalid_layout");
    await rejectsWith(decodeImageFolder([{ name: "top.png", bytes: png }], size), "invalid_layout");
  });

  test("count, byte and class limits are enforced before decoding", async () => {
    const png = await solidImage("png", 2, 2, [0, 0, 0]);
    const three = ["a/1.png", "a/2.png", "b/1.png"].map((name) => ({ name, bytes: png }));
    await rejectsWith(decodeImageFolder(three, { ...size, limits: { maxFiles: 2 } }), "too_many_files");
    await rejectsWith(
      decodeImageFolder(three, { ...size, limits: { maxTotalBytes: png.length * 3 - 1 } }),
      "total_too_large",
    );
    await rejectsWith(
      decodeImageFolder(three, { ...size, limits: { maxFileBytes: png.length - 1 } }),
      "file_too_large",
    );
    await rejectsWith(decodeImageFolder(three, { ...size, limits: { maxClasses: 1 } }), "too_many_classes");
    await rejectsWith(decodeImageFolder(three, { ...size, limits: { minPerClass: 2 } }), "empty_class");
    await rejectsWith(
      decodeImageFolder([...three, { name: "c/", bytes: new Uint8Array(0) }], size),
      "empty_class",
    );
    await rejectsWith(decodeImageFolder([], size), "empty_dataset");
    await rejectsWith(
      decodeImageFolder(three, { ...size, limits: { maxDecodedBytes: 3 * 64 * 4 - 1 } }),
      "total_too_large",
    );
    await rejectsWith(decodeImageFolder([...three, { name: "a/1.png", bytes: png }], size), "invalid_layout");
  });

  test("every header is checked before any pixels are decoded", async () => {
    // A PNG whose header is fine but whose pixel data is garbage: only a full decode notices.
    const corrupt = corruptPixelsPng(4, 4);
    assert.equal((await inspectImage(corrupt)).width, 4);
    await rejectsWith(decodeImage(corrupt), "corrupt_image");
    const entries = [
      { name: "a/0-corrupt.png", bytes: corrupt },
      { name: "b/9-bomb.png", bytes: bombPng(30_000, 30_000) },
    ];
    await rejectsWith(decodeImageFolder(entries, size), "image_too_large");
    const text = { name: "b/9-notes.png", bytes: new TextEncoder().encode("not an image") };
    await rejectsWith(decodeImageFolder([entries[0], text], size), "unsupported_format");
  });
});

describe("decodeImageFolder: the train/ and test/ layout", () => {
  const splits = { ...size, layout: "splits" as const };
  const entry = async (name: string, value = 0) => ({
    name,
    bytes: await solidImage("png", 4, 4, [value, value, value]),
  });

  test("the layout is detected from class folders under train/ or test/, never from top folders alone", () => {
    const names = (...list: string[]) => list.map((name) => ({ name }));
    assert.equal(detectFolderLayout(names("train/cat/0.png", "test/cat/1.png")), "splits");
    assert.equal(detectFolderLayout(names("train/cat/", "test/")), "splits");
    assert.equal(detectFolderLayout(names("train/cat/0.png", "dog/1.png")), "splits");
    // Classes that happen to be called train and test: an ImageFolder, as before.
    assert.equal(detectFolderLayout(names("train/0.png", "test/0.png", "train/")), "classes");
    assert.equal(detectFolderLayout(names("cat/0.png", "__MACOSX/train/cat/._0.png")), "classes");
    assert.equal(detectFolderLayout(names("cat/0.png")), "classes");
  });

  test("train classes name the labels; each class lists train then test images, with their split", async () => {
    const { set, names, split } = await decodeImageFolder(
      [
        await entry("test/dog/z.png", 255),
        await entry("train/dog/b.png"),
        await entry("train/cat/a.png"),
        await entry("test/cat/a.png", 255), // the same file name in both splits is two images
        await entry("train/dog/a.png"),
        await entry("train/bird/0.png"), // a class without test images is allowed
        { name: "test/", bytes: new Uint8Array(0) },
        { name: "train/cat/", bytes: new Uint8Array(0) },
        { name: "__MACOSX/test/cat/._a.png", bytes: new Uint8Array([0]) },
      ],
      splits,
    );
    assert.deepEqual(set.classNames, ["bird", "cat", "dog"]);
    assert.deepEqual(names, [
      "train/bird/0.png",
      "train/cat/a.png",
      "test/cat/a.png",
      "train/dog/a.png",
      "train/dog/b.png",
      "test/dog/z.png",
    ]);
    assert.deepEqual([...set.labels], [0, 1, 1, 2, 2, 2]);
    const [train, test] = [SPLIT_TRAIN, SPLIT_TEST];
    assert.deepEqual([...split!], [train, train, test, train, train, test]);
    assert.ok(
      set.images.subarray(2 * 64, 3 * 64).every((v) => v > 0.99),
      "test/cat/a.png's own pixels",
    );
    assert.ok(
      set.images.subarray(64, 2 * 64).every((v) => v < 0.01),
      "train/cat/a.png's own pixels",
    );
    assert.equal((await decodeImageFolder([await entry("cat/0.png")], size)).split, undefined);
  });

  test("test classes missing from train/ are empty_class naming all of them", async () => {
    const error = await rejectsWith(
      decodeImageFolder(
        [
          await entry("train/cat/0.png"),
          await entry("test/cat/1.png"),
          await entry("test/dog/0.png"),
          await entry("test/bird/0.png"),
          { name: "test/fish/", bytes: new Uint8Array(0) },
        ],
        splits,
      ),
      "empty_class",
    );
    assert.match(error.message, /"bird", "dog", "fish"/);
    assert.equal(error.details.class, "bird, dog, fish");
  });

  test("entries outside train/ and test/ are mixed_layout naming one; files directly in train/ are invalid_layout", async () => {
    const mixed = await rejectsWith(
      decodeImageFolder([await entry("train/cat/0.png"), await entry("dog/0.png")], splits),
      "mixed_layout",
    );
    assert.equal(mixed.details.name, "dog/0.png");
    await rejectsWith(
      decodeImageFolder([await entry("train/cat/0.png"), await entry("test/0.png")], splits),
      "invalid_layout",
    );
    await rejectsWith(
      decodeImageFolder([await entry("train/cat/0.png"), await entry("test/cat/x/0.png")], splits),
      "invalid_layout",
    );
  });

  test("the limits count the test images too", async () => {
    const four = [
      await entry("train/a/0.png"),
      await entry("train/a/1.png"),
      await entry("test/a/0.png"),
      await entry("test/a/1.png"),
    ];
    const bytes = four.reduce((n, e) => n + e.bytes.length, 0);
    await rejectsWith(decodeImageFolder(four, { ...splits, limits: { maxFiles: 3 } }), "too_many_files");
    await rejectsWith(
      decodeImageFolder(four, { ...splits, limits: { maxTotalBytes: bytes - 1 } }),
      "total_too_large",
    );
    await rejectsWith(
      decodeImageFolder(four, { ...splits, limits: { maxDecodedBytes: 4 * 64 * 4 - 1 } }),
      "total_too_large",
    );
    const bomb = { name: "test/a/bomb.png", bytes: bombPng(30_000, 30_000) };
    await rejectsWith(decodeImageFolder([...four, bomb], splits), "image_too_large");
  });
});

describe("readImageFolder", () => {
  const dirs: string[] = [];
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  test("reads a class-per-folder directory and refuses symbolic links", async () => {
    const root = await mkdtemp(join(tmpdir(), "diffda-folder-"));
    dirs.push(root);
    await mkdir(join(root, "cat"));
    await mkdir(join(root, "dog"));
    await writeFile(join(root, "cat", "1.png"), await solidImage("png", 6, 6, [255, 255, 255]));
    await writeFile(join(root, "dog", "1.jpeg"), await solidImage("jpeg", 6, 6, [0, 0, 0]));
    const { set } = await readImageFolder(root, { channels: 3, height: 4, width: 4 });
    assert.deepEqual(set.classNames, ["cat", "dog"]);
    assert.equal(set.images.length, 2 * 3 * 16);

    await mkdir(join(root, "empty"));
    await rejectsWith(readImageFolder(root, size), "empty_class");
    await rm(join(root, "empty"), { recursive: true });

    await symlink("/etc/hostname", join(root, "dog", "2.png"));
    await rejectsWith(readImageFolder(root, size), "invalid_layout");
  });
});
