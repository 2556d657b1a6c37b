import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { philox4x32, Rng, sampleNoise } from "./index.js";

describe("philox4x32", () => {
  it("matches the Random123 known-answer vectors", () => {
    // Known-answer tests published with Random123 (kat_vectors, philox4x32_10).
    assert.deepEqual(
      Array.from(philox4x32(0, 0, 0, 0, 0, 0)),
      [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8],
    );
    assert.deepEqual(
      Array.from(philox4x32(0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff)),
      [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd],
    );
    assert.deepEqual(
      Array.from(philox4x32(0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0)),
      [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1],
    );
  });
});

describe("Rng", () => {
  it("repeats a sequence for the same seed and stream, and differs across streams", () => {
    const first = new Rng(42, 3);
    const second = new Rng(42, 3);
    const other = new Rng(42, 4);
    const xs = Array.from({ length: 10 }, () => first.nextUint32());
    assert.deepEqual(
      xs,
      Array.from({ length: 10 }, () => second.nextUint32()),
    );
    assert.notDeepEqual(
      xs,
      Array.from({ length: 10 }, () => other.nextUint32()),
    );
  });

  it("draws normals with mean ≈ 0 and variance ≈ 1", () => {
    const noise = sampleNoise(7, 0, 100_000);
    const mean = noise.reduce((s, v) => s + v, 0) / noise.length;
    const variance = noise.reduce((s, v) => s + (v - mean) ** 2, 0) / noise.length;
    assert.ok(Math.abs(mean) < 0.02, `mean ${mean}`);
    assert.ok(Math.abs(variance - 1) < 0.02, `variance ${variance}`);
  });

  it("gives per-sample noise that does not depend on other samples", () => {
    assert.deepEqual(sampleNoise(1, 5, 16), sampleNoise(1, 5, 16));
    assert.notDeepEqual(sampleNoise(1, 5, 16), sampleNoise(1, 6, 16));
  });

  it("draws unbiased bounded integers and shuffles as a permutation", () => {
    const rng = new Rng(9);
    const counts = [0, 0, 0];
    for (let i = 0; i < 30_000; i++) counts[rng.nextInt(3)]++;
    for (const c of counts) assert.ok(Math.abs(c - 10_000) < 400, `counts ${counts}`);
    const shuffled = rng.shuffle([...Array(20).keys()]);
    assert.deepEqual(
      [...shuffled].sort((x, y) => x - y),
      [...Array(20).keys()],
    );
  });

  it("rejects seeds that cannot travel exactly", () => {
    assert.throws(() => new Rng(-1), RangeError);
    assert.throws(() => new Rng(1.5), RangeError);
  });
});
