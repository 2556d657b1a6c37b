import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Rng } from "../random/index.js";
import {
  augmentImage,
  cropPadded,
  cutmixBatch,
  cutmixBox,
  DataError,
  flipHorizontal,
  mixupBatch,
  sampleBeta,
  sampleGamma,
  validateAugment,
} from "./index.js";

function moments(draw: () => number, n: number): { mean: number; variance: number } {
  let sum = 0;
  let sumSq = 0;
  for (let i = 0; i < n; i++) {
    const x = draw();
    sum += x;
    sumSq += x * x;
  }
  const mean = sum / n;
  return { mean, variance: sumSq / n - mean * mean };
}

describe("gamma and beta sampling", () => {
  test("Gamma(k) has mean k and variance k, for shapes below and above 1", () => {
    for (const shape of [0.3, 1, 2.5, 9]) {
      const rng = new Rng(11, 0);
      const { mean, variance } = moments(() => sampleGamma(rng, shape), 40_000);
      assert.ok(Math.abs(mean - shape) < 0.04 * shape + 0.01, `shape ${shape}: mean ${mean}`);
      assert.ok(Math.abs(variance - shape) < 0.08 * shape + 0.01, `shape ${shape}: variance ${variance}`);
    }
  });

  test("Beta(a, b) matches its mean and variance; Beta(1, 1) is uniform", () => {
    for (const [a, b] of [
      [1, 1],
      [0.5, 0.5],
      [2, 5],
      [0.2, 0.2],
    ]) {
      const rng = new Rng(3, 1);
      const draws: number[] = [];
      const { mean, variance } = moments(() => {
        const x = sampleBeta(rng, a, b);
        draws.push(x);
        return x;
      }, 40_000);
      const m = a / (a + b);
      const v = (a * b) / ((a + b) ** 2 * (a + b + 1));
      assert.ok(Math.abs(mean - m) < 0.01, `Beta(${a},${b}) mean ${mean} vs ${m}`);
      assert.ok(Math.abs(variance - v) < 0.01, `Beta(${a},${b}) variance ${variance} vs ${v}`);
      assert.ok(draws.every((x) => x >= 0 && x <= 1));
      if (a === 1 && b === 1) {
        const below = draws.filter((x) => x < 0.25).length / draws.length;
        assert.ok(Math.abs(below - 0.25) < 0.01, `P(x < 0.25) = ${below}`);
      }
    }
  });

  test("same seed, same draws", () => {
    const a = new Rng(5, 2);
    const b = new Rng(5, 2);
    for (let i = 0; i < 10; i++) assert.equal(sampleBeta(a, 1, 1), sampleBeta(b, 1, 1));
  });
});

describe("per-image augmentation", () => {
  const shape = { channels: 1, height: 3, width: 3 };
  const image = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]);

  test("horizontal flip mirrors each row", () => {
    assert.deepEqual([...flipHorizontal(image, shape, new Float32Array(9))], [3, 2, 1, 6, 5, 4, 9, 8, 7]);
  });

  test("padded crop: zero and reflect borders, centre offset is the identity", () => {
    const out = new Float32Array(9);
    assert.deepEqual([...cropPadded(image, shape, 2, 2, 2, "zero", out)], [...image]);
    assert.deepEqual([...cropPadded(image, shape, 2, 0, 0, "zero", out)], [0, 0, 0, 0, 0, 0, 0, 0, 1]);
    // Reflect without repeating the edge: row −1 is row 1, column −1 is column 1.
    assert.deepEqual([...cropPadded(image, shape, 1, 0, 0, "reflect", out)], [5, 4, 5, 2, 1, 2, 5, 4, 5]);
    assert.deepEqual([...cropPadded(image, shape, 1, 2, 2, "reflect", out)], [5, 6, 5, 8, 9, 8, 5, 6, 5]);
  });

  test("augmentImage: flip with p = 1 always flips; crop offsets cover the whole range; noise is clamped", () => {
    const rng = new Rng(1, 0);
    const flipped = augmentImage(rng, image.slice(), shape, { flip: 1 });
    assert.deepEqual([...flipped], [3, 2, 1, 6, 5, 4, 9, 8, 7]);
    const seen = new Set<string>();
    for (let i = 0; i < 400; i++)
      seen.add(augmentImage(rng, image.slice(), shape, { crop: { padding: 1 } }).join());
    assert.equal(seen.size, 9, "3×3 offsets");
    const noisy = augmentImage(
      rng,
      new Float32Array(1000).fill(0.5),
      { channels: 1, height: 10, width: 100 },
      {
        noiseStd: 0.1,
      },
    );
    const { mean, variance } = moments(
      (() => {
        let i = 0;
        return () => noisy[i++];
      })(),
      1000,
    );
    assert.ok(Math.abs(mean - 0.5) < 0.02 && Math.abs(Math.sqrt(variance) - 0.1) < 0.02);
    const clamped = augmentImage(
      rng,
      new Float32Array(100).fill(1),
      { channels: 1, height: 10, width: 10 },
      {
        noiseStd: 0.5,
      },
    );
    assert.ok(clamped.every((v) => v >= 0 && v <= 1));
  });

  test("bad options are typed errors", () => {
    assert.throws(() => validateAugment({ flip: 2 }, shape), DataError);
    assert.throws(() => validateAugment({ crop: { padding: 3, mode: "reflect" } }, shape), DataError);
    assert.throws(() => validateAugment({ crop: { padding: -1 } }, shape), DataError);
  });
});

describe("MixUp and CutMix", () => {
  test("MixUp mixes each image with the previous one, targets by the same λ", () => {
    const images = Float32Array.from([0, 0, 1, 1]);
    const targets = Float32Array.from([1, 0, 0, 1]);
    mixupBatch(images, targets, 2, 2, 2, 0.75);
    assert.deepEqual([...images], [0.25, 0.25, 0.75, 0.75]);
    assert.deepEqual([...targets], [0.75, 0.25, 0.25, 0.75]);
  });

  test("CutMix pastes a box and weighs targets by the area kept", () => {
    const shape = { channels: 1, height: 4, width: 4 };
    const box = cutmixBox(shape, 0.75, 2, 2); // sides 4·√0.25 = 2 → rows/cols [1, 3)
    assert.deepEqual(box, { y0: 1, y1: 3, x0: 1, x1: 3 });
    const images = Float32Array.from([...new Array(16).fill(0), ...new Array(16).fill(1)]);
    const targets = Float32Array.from([1, 0, 0, 1]);
    const lambda = cutmixBatch(images, targets, 2, shape, 2, box);
    assert.equal(lambda, 0.75);
    assert.equal(
      images.subarray(0, 16).reduce((a, b) => a + b),
      4,
      "image 0 got a 2×2 patch of ones",
    );
    assert.equal(images[5], 1);
    assert.equal(images[16 + 5], 0, "image 1 got a patch of image 0");
    assert.deepEqual([...targets], [0.75, 0.25, 0.25, 0.75]);
    const clipped = cutmixBox(shape, 0, 0, 0); // a full-size box centred at the corner keeps 3/4
    assert.deepEqual(clipped, { y0: 0, y1: 2, x0: 0, x1: 2 });
  });
});
