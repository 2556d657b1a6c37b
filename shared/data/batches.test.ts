import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { type Batch, batchCount, batches, createImageSet, DataError, imageSetSource } from "./index.js";

/** n 4×4 images, image i filled with i/n, labels i mod K. */
function source(n: number, classCount = 3) {
  const size = 16;
  return imageSetSource(
    createImageSet({
      channels: 1,
      height: 4,
      width: 4,
      images: Float32Array.from({ length: n * size }, (_, p) => Math.floor(p / size) / n),
      labels: Int32Array.from({ length: n }, (_, i) => i % classCount),
      classNames: Array.from({ length: classCount }, (_, k) => `c${k}`),
    }),
  );
}

function rowsSumToOne(batch: Batch, classCount: number): void {
  for (let i = 0; i < batch.size; i++) {
    let sum = 0;
    for (let k = 0; k < classCount; k++) {
      const t = batch.targets[i * classCount + k];
      assert.ok(t >= 0);
      sum += t;
    }
    assert.ok(Math.abs(sum - 1) < 1e-5, `row ${i} sums to ${sum}`);
  }
}

describe("batches", () => {
  test("an epoch visits every sample once, in a seeded order; images and one-hot targets line up", () => {
    const src = source(10);
    const all = [...batches(src, { batchSize: 4, seed: 1, epoch: 0 })];
    assert.deepEqual(
      all.map((b) => b.size),
      [4, 4, 2],
    );
    assert.equal(batchCount(10, 4), 3);
    const seen = all.flatMap((b) => [...b.indices]);
    assert.deepEqual(
      [...seen].sort((a, b) => a - b),
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    );
    assert.notDeepEqual(seen, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    for (const batch of all) {
      for (let i = 0; i < batch.size; i++) {
        const index = batch.indices[i];
        assert.equal(batch.images[i * 16], Math.fround(index / 10));
        assert.equal(batch.targets[i * 3 + (index % 3)], 1);
      }
      rowsSumToOne(batch, 3);
    }
    assert.deepEqual(
      [...batches(src, { batchSize: 4, seed: 1, epoch: 0, dropLast: true })].map((b) => b.size),
      [4, 4],
    );
    const ordered = [...batches(src, { batchSize: 10, seed: 1, epoch: 0, shuffle: false })][0];
    assert.deepEqual([...ordered.indices], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  test("deterministic in (seed, epoch); other epochs and seeds differ", () => {
    const src = source(32);
    const options = {
      batchSize: 8,
      augment: { flip: 0.5, crop: { padding: 1 }, noiseStd: 0.05 },
      mix: { mode: "either" as const, probability: 0.5 },
      labelSmoothing: 0.1,
    };
    const run = (seed: number, epoch: number) => [...batches(src, { ...options, seed, epoch })];
    const a = run(7, 3);
    assert.deepEqual(run(7, 3), a);
    assert.notDeepEqual(
      run(7, 4).map((b) => [...b.indices]),
      a.map((b) => [...b.indices]),
    );
    assert.notDeepEqual(
      run(8, 3).map((b) => [...b.indices]),
      a.map((b) => [...b.indices]),
    );
    for (const batch of a) rowsSumToOne(batch, 3);
  });

  test("augmentation does not depend on the batch size", () => {
    const src = source(12);
    const augment = { flip: 0.5, crop: { padding: 2 }, noiseStd: 0.1 };
    const whole = [...batches(src, { batchSize: 12, seed: 2, epoch: 1, augment })][0].images;
    const parts = [...batches(src, { batchSize: 5, seed: 2, epoch: 1, augment })].map((b) => b.images);
    assert.deepEqual(Float32Array.from(parts.flatMap((p) => [...p])), whole);
  });

  test("MixUp/CutMix hit about half of the batches, with soft targets summing to 1", () => {
    const src = source(64, 4);
    let mixed = 0;
    let total = 0;
    const modes = new Set<string>();
    for (let epoch = 0; epoch < 50; epoch++) {
      for (const batch of batches(src, { batchSize: 8, seed: 3, epoch, mix: { mode: "either" } })) {
        total++;
        rowsSumToOne(batch, 4);
        if (batch.mixed === undefined) continue;
        mixed++;
        modes.add(batch.mixed.mode);
        const { lambda } = batch.mixed;
        assert.ok(lambda >= 0 && lambda <= 1);
        // Row 0's own class carries at least λ.
        const own = batch.indices[0] % 4;
        assert.ok(batch.targets[own] >= lambda - 1e-6);
      }
    }
    assert.equal(total, 400);
    assert.ok(Math.abs(mixed / total - 0.5) < 0.08, `mixed share ${mixed / total}`);
    assert.deepEqual([...modes].sort(), ["cutmix", "mixup"]);
  });

  test("label smoothing spreads ε over the classes", () => {
    const [batch] = [
      ...batches(source(3), { batchSize: 3, seed: 0, epoch: 0, shuffle: false, labelSmoothing: 0.3 }),
    ];
    assert.deepEqual(
      Array.from(batch.targets.subarray(0, 3), (t) => Math.round(t * 1e6) / 1e6),
      [0.8, 0.1, 0.1],
    );
  });

  test("bad options are typed errors", () => {
    const src = source(4);
    const bad = [
      { batchSize: 0 },
      { batchSize: 2, labelSmoothing: 1 },
      { batchSize: 2, mix: { mode: "mixup" as const, alpha: 0 } },
      { batchSize: 2, mix: { mode: "mixup" as const, probability: 2 } },
      { batchSize: 2, epoch: -1 },
    ];
    for (const options of bad) {
      assert.throws(() => [...batches(src, { seed: 0, epoch: 0, ...options })], DataError);
    }
  });
});
