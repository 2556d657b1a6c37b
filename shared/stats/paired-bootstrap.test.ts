import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Rng } from "../random/index.js";
import { meanStd } from "./mean-std.js";
import { pairedBootstrap } from "./paired-bootstrap.js";

/**
 * One simulated comparison: `seeds` pairs of classifiers whose true accuracies on the image population
 * scatter (sd 0.01 per seed) around 0.75 and 0.70, scored on `images` test images drawn from it. An image
 * has a difficulty u ~ U(0, 1) and a classifier with accuracy p gets it right when u < p, so A and B are
 * strongly paired, as two classifiers trained on the same data are. The truth is what a user wants to
 * know: the expected difference over seeds and images, 0.05.
 */
function simulate(rng: Rng, seeds: number, images: number) {
  const a: number[][] = [];
  const b: number[][] = [];
  const truth = 0.05;
  const difficulty = Array.from({ length: images }, () => rng.nextFloat());
  for (let s = 0; s < seeds; s++) {
    const pA = 0.75 + 0.01 * rng.nextNormal();
    const pB = 0.7 + 0.01 * rng.nextNormal();
    // Different seeds disagree on some images: each seed shifts difficulties a little.
    const shift = difficulty.map((u) => Math.min(1, Math.max(0, u + 0.05 * rng.nextNormal())));
    a.push(shift.map((u) => (u < pA ? 1 : 0)));
    b.push(shift.map((u) => (u < pB ? 1 : 0)));
  }
  return { a, b, truth };
}

describe("paired bootstrap interval", () => {
  test("covers the true difference of a simulated pair at about the stated 95% rate", () => {
    const rng = new Rng(7, 1);
    const trials = 200;
    let covered = 0;
    for (let t = 0; t < trials; t++) {
      const { a, b, truth } = simulate(rng, 3, 300);
      const interval = pairedBootstrap(a, b, { resamples: 1000, seed: t });
      if (interval.low <= truth && truth <= interval.high) covered++;
    }
    const rate = covered / trials;
    // 200 trials: the binomial standard error at 0.95 is 0.015, so [0.9, 0.99] is about ±3 se.
    assert.ok(rate >= 0.9 && rate <= 0.99, `coverage ${rate}`);
  });

  test("a small test split does not resolve a small difference; a large one does", () => {
    const rng = new Rng(11, 1);
    const small = simulate(rng, 3, 20);
    const large = simulate(rng, 3, 5000);
    const s = pairedBootstrap(small.a, small.b);
    const l = pairedBootstrap(large.a, large.b);
    assert.equal(s.resolved, false, JSON.stringify(s));
    assert.equal(l.resolved, true, JSON.stringify(l));
    assert.ok(l.high - l.low < s.high - s.low);
  });

  test("is exact on its inputs: the observed difference, the same interval for the same seed", () => {
    const a = [
      [1, 1, 0, 1],
      [1, 0, 1, 1],
    ];
    const b = [
      [1, 0, 0, 1],
      [0, 0, 1, 1],
    ];
    const first = pairedBootstrap(a, b, { seed: 3 });
    assert.equal(first.difference, 0.25);
    assert.deepEqual(pairedBootstrap(a, b, { seed: 3 }), first);
    assert.ok(first.low <= first.difference && first.difference <= first.high);
    assert.deepEqual(pairedBootstrap([[1, 1]], [[1, 1]]), {
      difference: 0,
      low: 0,
      high: 0,
      level: 0.95,
      resamples: 2000,
      seeds: 1,
      images: 2,
      resolved: false,
    });
    assert.throws(() => pairedBootstrap([[1]], [[1], [0]]), /same seeds/);
  });

  test("meanStd skips what is not a finite number", () => {
    assert.deepEqual(meanStd([1, null, 3, Number.NaN, undefined]), { mean: 2, std: Math.SQRT2, n: 2 });
    assert.deepEqual(meanStd([]), { mean: null, std: null, n: 0 });
  });
});
