/**
 * Both scorers on kit data: real glyphs of five kit classes stand in for good synthetic samples, and two
 * bad ones are planted under class 0 (t-shirt): a blank image and a trousers image. Each scorer must rank
 * the planted two lowest of their class, and the top-half rule must drop them.
 */
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { TINY_MODEL } from "../classifier/test-sets.js";
import { trainClassifier } from "../classifier/train.js";
import { createImageSet, type ImageSet } from "../data/index.js";
import { buildCorpus, KIT_CLASSES, KIT_CLIP_DIR, type KitCorpus, zeroShotPrompt } from "../kit/index.js";
import { classifierScores, labelProbabilities } from "./classifier-scorer.js";
import { ClipImageScorer, clipScores } from "./clip-scorer.js";
import { selectSamples } from "./select.js";

const PICKED = [0, 1, 7, 9, 12]; // t-shirt, trousers, sneaker, ankle boot, handwritten digit two
const PLANE = 3 * 32 * 32;
const GOOD_PER_CLASS = 8;

let corpus: KitCorpus;
let real: ImageSet;
let synthetic: ImageSet;
/** Indices in `synthetic` of the planted blank and wrong-class images (both labelled class 0). */
let planted: number[];

function indicesOf(kitClass: number, count: number, skip: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < corpus.count && out.length < count; i++) {
    if (corpus.classes[i] !== kitClass) continue;
    if (skip > 0) skip--;
    else out.push(i);
  }
  return out;
}

function setOf(rows: { index: number | "blank"; label: number }[]): ImageSet {
  const images = new Float32Array(rows.length * PLANE);
  rows.forEach((r, j) => {
    if (r.index !== "blank")
      images.set(corpus.images.subarray(r.index * PLANE, (r.index + 1) * PLANE), j * PLANE);
  });
  return createImageSet({
    channels: 3,
    height: 32,
    width: 32,
    images,
    labels: Int32Array.from(rows.map((r) => r.label)),
    classNames: PICKED.map((c) => KIT_CLASSES[c].name),
  });
}

/** The planted images are the two lowest of class 0, and keeping half of each class drops them. */
function assertPlantedDropped(scores: Float32Array): void {
  const class0 = [...synthetic.labels.keys()].filter((i) => synthetic.labels[i] === 0);
  const lowest = [...class0].sort((a, b) => scores[a] - scores[b]).slice(0, planted.length);
  assert.deepEqual(
    lowest.sort(),
    [...planted].sort(),
    `class-0 scores ${class0.map((i) => scores[i].toFixed(3))}`,
  );
  const selection = selectSamples(
    [...scores].map((score, i) => ({ score, label: synthetic.labels[i] })),
    PICKED.length,
    { keepFraction: 0.5 },
  );
  for (const i of planted) assert.ok(selection.dropped.includes(i), `planted image ${i} was kept`);
  assert.equal(selection.perClass[0].dropped, (GOOD_PER_CLASS + planted.length) / 2);
}

describe("filtering scorers on kit data", () => {
  before(async () => {
    corpus = await buildCorpus("test");
    real = setOf(PICKED.flatMap((c, label) => indicesOf(c, 20, 0).map((index) => ({ index, label }))));
    const good = PICKED.flatMap((c, label) =>
      indicesOf(c, GOOD_PER_CLASS, 20).map((index) => ({ index, label })),
    );
    planted = [good.length, good.length + 1];
    synthetic = setOf([...good, { index: "blank", label: 0 }, { index: indicesOf(1, 1, 40)[0], label: 0 }]);
  });

  it("clip: the kit CLIP scores the planted blank and wrong-class images lowest", async () => {
    const scorer = await ClipImageScorer.open(
      KIT_CLIP_DIR,
      PICKED.map((c) => zeroShotPrompt(KIT_CLASSES[c])),
    );
    try {
      const scores = await scorer.score(synthetic);
      for (const s of scores) assert.ok(s >= 0 && s <= 1);
      assertPlantedDropped(scores);
    } finally {
      await scorer.release();
    }
  });

  it("classifier: a classifier trained on the real images alone scores them lowest", async () => {
    const trained = await trainClassifier({
      model: TINY_MODEL,
      trainSet: real,
      epochs: 60,
      batchSize: 10,
      lr: 3e-2,
      warmupEpochs: 1,
      seed: 1,
      threads: 1,
      worker: false,
    });
    const classifier = {
      config: trained.config,
      parameters: trained.parameters,
      classNames: real.classNames,
    };
    assertPlantedDropped(await classifierScores(classifier, synthetic, { worker: false, threads: 1 }));
  });
});

describe("labelProbabilities", () => {
  it("is the softmax at each row's label, stable for large logits", () => {
    const p = labelProbabilities(Float32Array.from([0, 0, 1000, 0, 2, 1]), [2, 0], 3);
    assert.ok(Math.abs(p[0] - 1) < 1e-6);
    const e = [Math.exp(0), Math.exp(2), Math.exp(1)];
    assert.ok(Math.abs(p[1] - e[0] / (e[0] + e[1] + e[2])) < 1e-6);
    assert.throws(() => labelProbabilities(new Float32Array(5), [0, 1], 3), RangeError);
  });
});

describe("clipScores", () => {
  const classes = Float32Array.from([1, 0, 0, 1]); // class 0 along x, class 1 along y
  it("gives the intended class's softmax probability over the class prompts", () => {
    const s = clipScores(Float32Array.from([1, 0, 1, 0]), classes, [0, 1], 10);
    assert.ok(Math.abs(s[0] - 1 / (1 + Math.exp(-10))) < 1e-6);
    assert.ok(Math.abs(s[1] - 1 / (1 + Math.exp(10))) < 1e-6);
  });
  it("mixes in consistency with the source image when weighted", () => {
    const images = Float32Array.from([1, 0, 1, 0]);
    const sources = Float32Array.from([1, 0, 0, 1]); // the second image drifted away from its source
    const s = clipScores(images, classes, [0, 0], 10, { sourceEmbeddings: sources, sourceWeight: 0.5 });
    const p = 1 / (1 + Math.exp(-10));
    assert.ok(Math.abs(s[0] - (0.5 * p + 0.5)) < 1e-6);
    assert.ok(Math.abs(s[1] - 0.5 * p) < 1e-6);
    assert.throws(() => clipScores(images, classes, [0, 0], 10, { sourceWeight: 2 }), RangeError);
  });
});
