import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  classCounts,
  concat,
  createImageSet,
  DataError,
  type ImageSet,
  indicesByClass,
  padImageSet,
  resizeImageSet,
  subset,
  toGrayscale,
  toRgb,
} from "./index.js";

function tinySet(values: number[][], labels: number[]): ImageSet {
  return createImageSet({
    channels: 1,
    height: 2,
    width: 2,
    images: Float32Array.from(values.flat()),
    labels: Int32Array.from(labels),
    classNames: ["a", "b", "c"],
  });
}

describe("ImageSet", () => {
  test("createImageSet validates shapes, labels and columns", () => {
    assert.throws(() => tinySet([[0, 0, 0]], [0]), DataError);
    assert.throws(() => tinySet([[0, 0, 0, 0]], [3]), DataError);
    assert.throws(
      () => createImageSet({ ...tinySet([[0, 0, 0, 0]], [0]), sourceIndex: Int32Array.from([1, 2]) }),
      DataError,
    );
  });

  test("subset copies pixels, labels and per-item columns in order", () => {
    const set = createImageSet({
      ...tinySet(
        [
          [1, 1, 1, 1],
          [2, 2, 2, 2],
          [3, 3, 3, 3],
        ],
        [0, 1, 2],
      ),
      sourceIndex: Int32Array.from([7, 8, 9]),
      softLabels: Float32Array.from([1, 0, 0, 0, 1, 0, 0, 0, 1]),
    });
    const picked = subset(set, [2, 0, 2]);
    assert.deepEqual([...picked.images], [3, 3, 3, 3, 1, 1, 1, 1, 3, 3, 3, 3]);
    assert.deepEqual([...picked.labels], [2, 0, 2]);
    assert.deepEqual([...picked.sourceIndex!], [9, 7, 9]);
    assert.deepEqual([...picked.softLabels!], [0, 0, 1, 1, 0, 0, 0, 0, 1]);
    assert.equal(picked.strengths, undefined);
    assert.throws(() => subset(set, [3]), DataError);
  });

  test("concat fills columns missing from some sets", () => {
    const real = tinySet([[0, 0, 0, 0]], [1]);
    const synthetic = createImageSet({
      ...tinySet([[1, 1, 1, 1]], [2]),
      sourceIndex: Int32Array.from([0]),
      strengths: Float32Array.from([0.5]),
      softLabels: Float32Array.from([0, 0.3, 0.7]),
    });
    const both = concat([real, synthetic]);
    assert.deepEqual([...both.labels], [1, 2]);
    assert.deepEqual([...both.sourceIndex!], [-1, 0]);
    assert.ok(Number.isNaN(both.strengths![0]));
    assert.deepEqual([...both.softLabels!], [0, 1, 0, 0, 0.30000001192092896, 0.699999988079071]);
    assert.equal(both.sourceLabels, undefined);
    assert.throws(() => concat([real, { ...real, classNames: ["x", "y", "z"] }]), DataError);
  });

  test("indicesByClass and classCounts", () => {
    const set = tinySet(
      [
        [0, 0, 0, 0],
        [0, 0, 0, 0],
        [0, 0, 0, 0],
      ],
      [2, 0, 2],
    );
    assert.deepEqual(
      indicesByClass(set.labels, 3).map((a) => [...a]),
      [[1], [], [0, 2]],
    );
    assert.deepEqual([...classCounts(set)], [1, 0, 2]);
  });
});

describe("geometry and colour", () => {
  test("bilinear resize keeps constants, matches half-pixel-centre interpolation", () => {
    const flat = resizeImageSet(tinySet([[0.5, 0.5, 0.5, 0.5]], [0]), 3, 5);
    assert.deepEqual([flat.height, flat.width], [3, 5]);
    assert.ok(flat.images.every((v) => Math.abs(v - 0.5) < 1e-6));
    // 1×2 → 1×4 of [0, 1]: output x samples at (x+0.5)/2−0.5 = −0.25, 0.25, 0.75, 1.25 → 0, .25, .75, 1
    const ramp = createImageSet({
      channels: 1,
      height: 1,
      width: 2,
      images: Float32Array.from([0, 1]),
      labels: Int32Array.from([0]),
      classNames: ["a"],
    });
    assert.deepEqual([...resizeImageSet(ramp, 1, 4).images], [0, 0.25, 0.75, 1]);
    // Downscale 4→2 averages pairs at half-pixel centres: samples at 0.5 and 2.5.
    const four = createImageSet({ ...ramp, width: 4, images: Float32Array.from([0, 1, 2, 3]) });
    assert.deepEqual([...resizeImageSet(four, 1, 2).images], [0.5, 2.5]);
  });

  test("pad centres the image (28→32 adds 2 per side)", () => {
    const set = createImageSet({
      channels: 1,
      height: 28,
      width: 28,
      images: new Float32Array(28 * 28).fill(1),
      labels: Int32Array.from([0]),
      classNames: ["a"],
    });
    const padded = padImageSet(set, 32, 32);
    assert.equal(padded.images.length, 32 * 32);
    const at = (y: number, x: number) => padded.images[y * 32 + x];
    assert.deepEqual([at(1, 1), at(2, 2), at(29, 29), at(30, 30), at(2, 30)], [0, 1, 1, 0, 0]);
    assert.throws(() => padImageSet(set, 20, 32), DataError);
  });

  test("grayscale ↔ RGB", () => {
    const gray = tinySet([[0.1, 0.2, 0.3, 0.4]], [0]);
    const rgb = toRgb(gray);
    assert.equal(rgb.channels, 3);
    assert.deepEqual([...rgb.images.subarray(4, 8)], [...gray.images]);
    const back = toGrayscale(rgb);
    for (let i = 0; i < 4; i++) assert.ok(Math.abs(back.images[i] - gray.images[i]) < 1e-6);
    const red = createImageSet({ ...rgb, images: Float32Array.from([1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0]) });
    assert.ok(Math.abs(toGrayscale(red).images[0] - 0.299) < 1e-6);
  });
});
