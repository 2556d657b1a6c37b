import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type ChwImage, fractalBlend, halfConcat, halfConcatMask, randomOrientation } from "./index.js";

function constant(value: number, channels = 3, height = 64, width = 64): ChwImage {
  return { data: new Float32Array(channels * height * width).fill(value), channels, height, width };
}

describe("DiffuseMix half concatenation", () => {
  it("builds DiffuseMix's mask: 0 for ⌊n/2⌋ − 10 px, a 20-px linspace(0, 1), then 1", () => {
    const mask = halfConcatMask(256, 20);
    assert.ok(mask.subarray(0, 118).every((v) => v === 0));
    assert.ok(Math.abs(mask[118]) < 1e-7 && Math.abs(mask[137] - 1) < 1e-7);
    assert.ok(Math.abs(mask[119] - 1 / 19) < 1e-7);
    assert.ok(mask.subarray(138).every((v) => v === 1));
    assert.equal(mask.length, 256);
  });

  it("puts the original in the left half and the edit in the right half (horizontal)", () => {
    const out = halfConcat(constant(0), constant(1), "horizontal");
    const at = (c: number, y: number, x: number) => out.data[(c * 64 + y) * 64 + x];
    assert.equal(at(0, 10, 5), 0);
    assert.equal(at(2, 50, 60), 1);
    assert.ok(Math.abs(at(1, 30, 22) - 0) < 1e-7 && Math.abs(at(1, 30, 41) - 1) < 1e-7);
    assert.ok(at(1, 30, 31) > 0 && at(1, 30, 31) < 1);
    for (let y = 0; y < 64; y++) assert.equal(at(0, y, 31), at(0, 0, 31)); // constant down each column
  });

  it("puts the original on top and the edit at the bottom (vertical)", () => {
    const out = halfConcat(constant(0.2), constant(0.8), "vertical");
    const at = (y: number, x: number) => out.data[y * 64 + x];
    assert.ok(Math.abs(at(0, 40) - 0.2) < 1e-7);
    assert.ok(Math.abs(at(63, 3) - 0.8) < 1e-7);
    for (let x = 0; x < 64; x++) assert.equal(at(30, x), at(30, 0));
  });

  it("rejects mismatched shapes and images smaller than the blend", () => {
    assert.throws(() => halfConcat(constant(0), constant(1, 3, 32, 64), "vertical"), /differ in shape/);
    assert.throws(
      () => halfConcat(constant(0, 3, 10, 10), constant(1, 3, 10, 10), "horizontal"),
      /too small/,
    );
  });

  it("draws each orientation about half the time, per sample", () => {
    const horizontal = Array.from({ length: 2000 }, (_, index) =>
      randomOrientation({ seed: 1, index }),
    ).filter((o) => o === "horizontal").length;
    assert.ok(Math.abs(horizontal - 1000) < 100, `${horizontal}`);
    assert.equal(randomOrientation({ seed: 1, index: 5 }), randomOrientation({ seed: 1, index: 5 }));
  });
});

describe("DiffuseMix fractal blend", () => {
  it("is 0.8·image + 0.2·fractal, clipped to [0, 1]", () => {
    const out = fractalBlend(constant(0.5), constant(1));
    assert.ok(out.data.every((v) => Math.abs(v - 0.6) < 1e-7));
    const clipped = fractalBlend({ ...constant(1.2) }, constant(1.5), 0.5);
    assert.ok(clipped.data.every((v) => v === 1));
    assert.throws(() => fractalBlend(constant(0), constant(0), 1.5), RangeError);
  });
});
