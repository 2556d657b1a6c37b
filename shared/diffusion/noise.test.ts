import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { sampleNoise } from "../random/index.js";
import { derivedSeed, NoisePurpose, stepNoise } from "./noise.js";

describe("per-sample noise keys", () => {
  it("derive distinct, reproducible 53-bit seeds per (seed, purpose, timestep)", () => {
    const seeds = new Set<number>();
    for (const purpose of Object.values(NoisePurpose)) {
      for (const t of [0, 1, 999, 957.375]) seeds.add(derivedSeed(42, purpose, t));
    }
    assert.equal(seeds.size, Object.values(NoisePurpose).length * 4);
    for (const s of seeds) assert.ok(Number.isSafeInteger(s) && s >= 0);
    assert.equal(derivedSeed(42, 1, 500), derivedSeed(42, 1, 500));
    assert.notEqual(derivedSeed(42, 1, 500), derivedSeed(43, 1, 500));
  });

  it("give step noise independent of the initial latent noise of the same sample", () => {
    const step = stepNoise({ seed: 9, index: 2 }, 981, 64);
    assert.notDeepEqual(step, sampleNoise(9, 2, 64));
    assert.deepEqual(step, stepNoise({ seed: 9, index: 2 }, 981, 64));
    assert.notDeepEqual(step, stepNoise({ seed: 9, index: 2 }, 961, 64));
    assert.notDeepEqual(step, stepNoise({ seed: 9, index: 3 }, 981, 64));
  });

  it("is standard normal", () => {
    const noise = stepNoise({ seed: 1, index: 0 }, 500, 50_000);
    const mean = noise.reduce((s, v) => s + v, 0) / noise.length;
    const variance = noise.reduce((s, v) => s + (v - mean) ** 2, 0) / noise.length;
    assert.ok(Math.abs(mean) < 0.02 && Math.abs(variance - 1) < 0.03, `${mean} ${variance}`);
  });
});
