import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  createImageSet,
  DataError,
  fewShotIndices,
  loadBuiltinDataset,
  makeFewShotTask,
  perClassSplit,
  SPLIT_TRAIN,
} from "./index.js";

describe("few-shot tasks on fashion-mnist", async () => {
  const data = await loadBuiltinDataset("fashion-mnist");

  test("exactly k train images per class, from the train split only, disjoint from the test split", () => {
    const task = makeFewShotTask(data, { shots: 5, seed: 0 });
    assert.equal(task.train.length, 50);
    assert.equal(task.test.length, 10_000);
    assert.deepEqual(task.classNames, data.classNames);
    for (const i of task.train) assert.equal(data.split[i], SPLIT_TRAIN);
    const train = new Set(task.train);
    assert.ok(task.test.every((i) => !train.has(i)));
    const perClass = new Array(10).fill(0);
    for (const label of task.trainSet.labels) perClass[label]++;
    assert.deepEqual(perClass, new Array(10).fill(5));
    assert.equal(task.trainSet.images.length, 50 * 784);
    assert.equal(task.testSet.labels.length, 10_000);
  });

  test("deterministic from the seed; different seeds differ; k-shot ⊂ (k+1)-shot", () => {
    const a = fewShotIndices(data.labels, data.split, data.classNames, { shots: 5, seed: 1 });
    const b = fewShotIndices(data.labels, data.split, data.classNames, { shots: 5, seed: 1 });
    const c = fewShotIndices(data.labels, data.split, data.classNames, { shots: 5, seed: 2 });
    assert.deepEqual(a.train, b.train);
    assert.notDeepEqual(a.train, c.train);
    assert.deepEqual(a.test, c.test, "the test split does not depend on the task seed");
    const more = new Set(
      fewShotIndices(data.labels, data.split, data.classNames, { shots: 10, seed: 1 }).train,
    );
    assert.ok(a.train.every((i) => more.has(i)));
  });

  test("a class subset relabels 0…K'−1 in the given order and keeps each class's draw", () => {
    const all = makeFewShotTask(data, { shots: 3, seed: 4 });
    const some = makeFewShotTask(data, { shots: 3, seed: 4, classes: ["bag", 1], testPerClass: 20 });
    assert.deepEqual(some.classNames, ["bag", "trouser"]);
    assert.deepEqual(some.classes, [8, 1]);
    assert.deepEqual([...some.trainSet.labels], [0, 0, 0, 1, 1, 1]);
    assert.deepEqual([...some.train.subarray(0, 3)], [...all.train.subarray(8 * 3, 9 * 3)]);
    assert.equal(some.test.length, 40);
    for (let i = 0; i < 20; i++) assert.equal(data.labels[some.test[i]], 8);
    const other = makeFewShotTask(data, { shots: 3, seed: 5, classes: ["bag", 1], testPerClass: 20 });
    assert.deepEqual(other.test, some.test, "the fixed test subset is the same for every seed");
  });

  test("bad requests are typed errors", () => {
    assert.throws(
      () => makeFewShotTask(data, { shots: 6_001, seed: 0 }),
      (e: unknown) => {
        return e instanceof DataError && e.code === "not_enough_images";
      },
    );
    assert.throws(() => makeFewShotTask(data, { shots: 0, seed: 0 }), DataError);
    assert.throws(() => makeFewShotTask(data, { shots: 1, seed: 0, classes: ["cat"] }), DataError);
    assert.throws(() => makeFewShotTask(data, { shots: 1, seed: 0, classes: [1, 1] }), DataError);
  });
});

test("few-shot tasks on a user set with a seeded split", () => {
  const labels = Int32Array.from({ length: 40 }, (_, i) => i % 2);
  const set = createImageSet({
    channels: 1,
    height: 1,
    width: 1,
    images: Float32Array.from(labels.keys(), (i) => i / 40),
    labels,
    classNames: ["a", "b"],
  });
  const split = perClassSplit(labels, 2, 9, (n) => Math.round(n * 0.25));
  const task = makeFewShotTask({ set, split }, { shots: 2, seed: 3 });
  assert.equal(task.trainSet.labels.length, 4);
  assert.equal(task.testSet.labels.length, 10);
  for (let i = 0; i < 4; i++) assert.equal(task.trainSet.images[i], Math.fround(task.train[i] / 40));
});
