import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  batches,
  createImageSet,
  DataError,
  FROM_REAL,
  FROM_SYNTHETIC,
  type ImageSet,
  utilizationEpoch,
  writeInterClassTarget,
} from "./index.js";

const classNames = ["a", "b", "c"];

/** `n` real 1×1 images: pixel value i, label i mod 3. */
function realSet(n: number): ImageSet {
  return createImageSet({
    channels: 1,
    height: 1,
    width: 1,
    images: Float32Array.from({ length: n }, (_, i) => i),
    labels: Int32Array.from({ length: n }, (_, i) => i % 3),
    classNames,
  });
}

/**
 * `perReal` synthetic variants of each of the first `withVariants` real images: pixel value 1000 + j,
 * source = the real image, target class = (source class + shift) mod 3, strength 0.49.
 */
function syntheticSet(withVariants: number, perReal: number, shift = 0): ImageSet {
  const n = withVariants * perReal;
  const sourceIndex = Int32Array.from({ length: n }, (_, j) => Math.floor(j / perReal));
  return createImageSet({
    channels: 1,
    height: 1,
    width: 1,
    images: Float32Array.from({ length: n }, (_, j) => 1000 + j),
    labels: Int32Array.from(sourceIndex, (i) => (i + shift) % 3),
    classNames,
    sourceIndex,
    sourceLabels: Int32Array.from(sourceIndex, (i) => i % 3),
    strengths: new Float32Array(n).fill(0.49),
  });
}

function read(plan: ReturnType<typeof utilizationEpoch>, k: number): { pixel: number; target: number[] } {
  const pixel = new Float32Array(1);
  const target = new Float32Array(3);
  plan.copyImage(k, pixel, 0);
  plan.writeTarget(k, target, 0);
  return { pixel: pixel[0], target: [...target] };
}

describe("utilization strategies", () => {
  const real = realSet(2000);
  const synthetic = syntheticSet(1000, 2); // real images 1000… have no variants

  test("real: the real set only; FC: real ∪ all synthetic; FR: synthetic only", () => {
    const baseline = utilizationEpoch(real, synthetic, { strategy: { kind: "real" }, seed: 0 }, 0);
    assert.equal(baseline.count, 2000);
    assert.ok(baseline.from.every((f) => f === FROM_REAL));
    const fc = utilizationEpoch(real, synthetic, { strategy: { kind: "FC" }, seed: 0 }, 0);
    assert.equal(fc.count, 4000);
    assert.deepEqual(read(fc, 1999).pixel, 1999);
    assert.deepEqual(read(fc, 2000).pixel, 1000);
    assert.deepEqual(read(fc, 3999).pixel, 2999);
    const fr = utilizationEpoch(real, synthetic, { strategy: { kind: "FR" }, seed: 0 }, 0);
    assert.equal(fr.count, 2000);
    assert.ok(fr.from.every((f) => f === FROM_SYNTHETIC));
    assert.throws(
      () => utilizationEpoch(real, undefined, { strategy: { kind: "FR" }, seed: 0 }, 0),
      DataError,
    );
  });

  test("LRR(p): about p of the replaceable images are replaced, always by one of their own variants", () => {
    const plan = utilizationEpoch(real, synthetic, { strategy: { kind: "LRR", p: 0.5 }, seed: 4 }, 0);
    assert.equal(plan.count, 2000);
    let replaced = 0;
    for (let i = 0; i < 2000; i++) {
      if (plan.from[i] === FROM_REAL) {
        assert.equal(plan.index[i], i);
        continue;
      }
      replaced++;
      assert.ok(i < 1000, `real image ${i} has no variants and must stay real`);
      assert.equal(synthetic.sourceIndex![plan.index[i]], i, "a variant of this very image");
      const { pixel, target } = read(plan, i);
      assert.equal(pixel, 1000 + plan.index[i]);
      assert.deepEqual(
        target,
        [0, 0, 0].map((_, k) => (k === i % 3 ? 1 : 0)),
      );
    }
    assert.equal(plan.replaced, replaced);
    assert.ok(Math.abs(replaced / 1000 - 0.5) < 0.05, `replaced ${replaced} of 1000`);
    const variantsUsed = new Set(Array.from(plan.index).filter((_, i) => plan.from[i] === FROM_SYNTHETIC));
    assert.ok([...variantsUsed].some((j) => j % 2 === 1) && [...variantsUsed].some((j) => j % 2 === 0));
    assert.throws(
      () =>
        utilizationEpoch(
          real,
          { ...synthetic, sourceIndex: undefined },
          { strategy: { kind: "LRR", p: 0.5 }, seed: 0 },
          0,
        ),
      DataError,
    );
  });

  test("GRR(p): about p of all images are replaced, by images from the whole pool", () => {
    const plan = utilizationEpoch(real, synthetic, { strategy: { kind: "GRR", p: 0.3 }, seed: 9 }, 0);
    assert.ok(Math.abs(plan.replaced / 2000 - 0.3) < 0.04, `replaced ${plan.replaced}`);
    let foreign = 0;
    for (let i = 0; i < 2000; i++) {
      if (plan.from[i] === FROM_SYNTHETIC && synthetic.sourceIndex![plan.index[i]] !== i) foreign++;
    }
    assert.ok(foreign > plan.replaced * 0.9, "almost all replacements come from other images");
    assert.equal(
      utilizationEpoch(real, synthetic, { strategy: { kind: "GRR", p: 0 }, seed: 9 }, 0).replaced,
      0,
    );
    assert.equal(
      utilizationEpoch(real, synthetic, { strategy: { kind: "GRR", p: 1 }, seed: 9 }, 0).replaced,
      2000,
    );
  });

  test("replacements are redrawn every epoch, deterministically", () => {
    const options = { strategy: { kind: "GRR" as const, p: 0.5 }, seed: 1 };
    const e0 = utilizationEpoch(real, synthetic, options, 0);
    assert.deepEqual(utilizationEpoch(real, synthetic, options, 0).index, e0.index);
    assert.notDeepEqual(utilizationEpoch(real, synthetic, options, 1).index, e0.index);
  });

  test("soft labels: s^γ on the target class, 1 − s^γ on the source class, rows sum to 1", () => {
    const inter = syntheticSet(30, 1, 1); // target = source class + 1
    const plan = utilizationEpoch(
      realSet(30),
      inter,
      { strategy: { kind: "FR" }, seed: 0, softLabels: {} },
      0,
    );
    const w = 0.49 ** 0.5; // γ = 0.5 by default
    for (let j = 0; j < 30; j++) {
      const { target } = read(plan, j);
      const source = j % 3;
      const goal = (source + 1) % 3;
      assert.ok(Math.abs(target[goal] - w) < 1e-6);
      assert.ok(Math.abs(target[source] - (1 - w)) < 1e-6);
      assert.ok(Math.abs(target.reduce((a, b) => a + b) - 1) < 1e-6);
    }
    const hard = utilizationEpoch(realSet(30), inter, { strategy: { kind: "FR" }, seed: 0 }, 0);
    assert.deepEqual(read(hard, 0).target, [0, 1, 0], "off by default: one-hot on the target class");
    const gamma = utilizationEpoch(
      realSet(30),
      inter,
      { strategy: { kind: "FR" }, seed: 0, softLabels: { gamma: 1 } },
      0,
    );
    assert.ok(Math.abs(read(gamma, 0).target[1] - 0.49) < 1e-6);
  });

  test("soft labels when target == source sum to 1 (the paper's code leaves s^γ < 1; we do not)", () => {
    const intra = syntheticSet(30, 1, 0);
    const plan = utilizationEpoch(
      realSet(30),
      intra,
      { strategy: { kind: "FR" }, seed: 0, softLabels: {} },
      0,
    );
    for (let j = 0; j < 30; j++) {
      const expected = [0, 0, 0];
      expected[j % 3] = 1;
      assert.deepEqual(read(plan, j).target, expected);
    }
    const row = new Float32Array(3);
    writeInterClassTarget(2, 2, 0.3, 0.5, 3, row);
    assert.deepEqual([...row], [0, 0, 1]);
  });

  test("an epoch plan feeds the batch iterator", () => {
    const plan = utilizationEpoch(real, synthetic, { strategy: { kind: "LRR", p: 0.5 }, seed: 2 }, 3);
    let seen = 0;
    for (const batch of batches(plan, { batchSize: 256, seed: 2, epoch: 3 })) {
      for (let i = 0; i < batch.size; i++) {
        const k = batch.indices[i];
        const expected = plan.from[k] === FROM_REAL ? plan.index[k] : 1000 + plan.index[k];
        assert.equal(batch.images[i], expected);
      }
      seen += batch.size;
    }
    assert.equal(seen, 2000);
  });

  test("mismatched sets and bad probabilities are typed errors", () => {
    const other = createImageSet({ ...synthetic, classNames: ["x", "y", "z"] });
    assert.throws(() => utilizationEpoch(real, other, { strategy: { kind: "FC" }, seed: 0 }, 0), DataError);
    assert.throws(
      () => utilizationEpoch(real, synthetic, { strategy: { kind: "GRR", p: 1.5 }, seed: 0 }, 0),
      DataError,
    );
  });
});
