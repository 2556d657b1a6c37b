import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type ScoredSample, SelectionRuleError, selectSamples } from "./select.js";

const samples = (rows: [number, number][]): ScoredSample[] =>
  rows.map(([label, score]) => ({ label, score }));

describe("selectSamples", () => {
  it("keeps the best ⌈fraction·n⌉ of each class, not of the whole set", () => {
    // Class 0 scores high everywhere, class 1 low: a global top half would keep only class 0.
    const set = samples([
      [0, 0.9],
      [0, 0.8],
      [0, 0.95],
      [0, 0.7],
      [1, 0.2],
      [1, 0.4],
      [1, 0.1],
    ]);
    const s = selectSamples(set, 2, { keepFraction: 0.5 });
    assert.deepEqual(s.kept, [0, 2, 4, 5]);
    assert.deepEqual(s.dropped, [1, 3, 6]);
    assert.deepEqual(
      s.perClass.map((c) => [c.total, c.kept, c.dropped]),
      [
        [4, 2, 2],
        [3, 2, 1],
      ],
    );
    assert.equal(s.perClass[0].threshold, 0.9);
    assert.equal(s.perClass[1].threshold, 0.2);
  });

  it("drops everything below minScore, a class possibly to nothing", () => {
    const s = selectSamples(
      samples([
        [0, 0.9],
        [0, 0.3],
        [1, 0.2],
        [1, 0.1],
      ]),
      3,
      { minScore: 0.5 },
    );
    assert.deepEqual(s.kept, [0]);
    assert.deepEqual(
      s.perClass.map((c) => [c.kept, c.dropped, c.threshold]),
      [
        [1, 1, 0.9],
        [0, 2, null],
        [0, 0, null],
      ],
    );
  });

  it("applies both rules: the fraction first, then the floor", () => {
    const set = samples([
      [0, 0.9],
      [0, 0.6],
      [0, 0.5],
      [0, 0.1],
    ]);
    assert.deepEqual(selectSamples(set, 1, { keepFraction: 0.75, minScore: 0.55 }).kept, [0, 1]);
  });

  it("keeps at least one image of a non-empty class under any fraction", () => {
    const s = selectSamples(
      samples([
        [0, 0.2],
        [0, 0.3],
        [0, 0.1],
      ]),
      1,
      { keepFraction: 0.01 },
    );
    assert.deepEqual(s.kept, [1]);
  });

  it("ranks NaN scores last and breaks ties by index", () => {
    const s = selectSamples(
      samples([
        [0, Number.NaN],
        [0, 0.5],
        [0, 0.5],
        [0, 0.5],
      ]),
      1,
      { keepFraction: 0.5 },
    );
    assert.deepEqual(s.kept, [1, 2]);
    assert.deepEqual(selectSamples(samples([[0, Number.NaN]]), 1, { minScore: 0 }).kept, []);
  });

  it("rejects rules and labels it cannot follow", () => {
    const set = samples([[0, 1]]);
    assert.throws(() => selectSamples(set, 1, {}), SelectionRuleError);
    assert.throws(() => selectSamples(set, 1, { keepFraction: 0 }), SelectionRuleError);
    assert.throws(() => selectSamples(set, 1, { keepFraction: 1.5 }), SelectionRuleError);
    assert.throws(() => selectSamples(set, 1, { minScore: Number.NaN }), SelectionRuleError);
    assert.throws(() => selectSamples(samples([[2, 1]]), 2, { keepFraction: 1 }), SelectionRuleError);
  });
});
