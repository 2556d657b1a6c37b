import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { evaluateClassifier } from "./evaluate.js";
import { epochImages, RECIPE, resolveRecipe, sizedBatchSize, stepBudget, stepsPerEpoch } from "./recipe.js";
import { barsSet, TINY_MODEL } from "./test-sets.js";
import { trainClassifier } from "./train.js";

const LIMITS = { defaultEpochs: 30, maxEpochs: 1000 };

describe("classifier recipe", () => {
  it("sizes the batch to a power of two near images / 8, within [4, 128]", () => {
    assert.deepEqual(
      [1, 8, 25, 32, 100, 1000, 1024, 60_000].map(sizedBatchSize),
      [4, 4, 4, 4, 8, 64, 128, 128],
    );
    for (let n = 1; n <= 5000; n++) {
      const b = sizedBatchSize(n);
      assert.ok(Number.isInteger(Math.log2(b)) && b >= 4 && b <= 128, `n ${n}: batch ${b}`);
    }
  });

  it("never makes an epoch one step from 8 images on, and at least 8 steps from 32", () => {
    for (let n = 8; n <= 5000; n++) {
      const { batchSize } = resolveRecipe({ images: n, ...LIMITS });
      const steps = stepsPerEpoch(n, batchSize);
      assert.ok(steps >= 2, `n ${n}: ${steps} step(s) of ${batchSize}`);
      if (n >= 32) assert.ok(steps >= 8, `n ${n}: ${steps} steps of ${batchSize}`);
    }
  });

  it("takes enough epochs for the step budget, never fewer than the default nor more than the cap", () => {
    // 25 images (5-shot, 5 classes): batch 4, 6 steps per epoch, 50 epochs for 300 steps.
    assert.deepEqual(resolveRecipe({ images: 25, ...LIMITS }), { batchSize: 4, epochs: 50 });
    // A large set keeps the former defaults: batch 128 and the configured epochs.
    assert.deepEqual(resolveRecipe({ images: 60_000, ...LIMITS }), { batchSize: 128, epochs: 30 });
    assert.equal(resolveRecipe({ images: 25, defaultEpochs: 30, maxEpochs: 40 }).epochs, 40);
    assert.equal(resolveRecipe({ images: 25, defaultEpochs: 80, maxEpochs: 1000 }).epochs, 80);
    for (const n of [1, 3, 8, 25, 99, 500, 2000]) {
      const { batchSize, epochs } = resolveRecipe({ images: n, ...LIMITS });
      assert.ok(epochs * stepsPerEpoch(n, batchSize) >= RECIPE.minSteps, `n ${n}`);
    }
  });

  it("keeps explicit values: a batch alone still gets the step budget", () => {
    assert.deepEqual(resolveRecipe({ images: 25, batchSize: 128, epochs: 3, ...LIMITS }), {
      batchSize: 128,
      epochs: 3,
    });
    assert.deepEqual(resolveRecipe({ images: 25, epochs: 3, ...LIMITS }), { batchSize: 4, epochs: 3 });
    // One step per epoch (128 > 25 images): 300 epochs for 300 steps.
    assert.deepEqual(resolveRecipe({ images: 25, batchSize: 128, ...LIMITS }), {
      batchSize: 128,
      epochs: 300,
    });
    assert.throws(() => resolveRecipe({ images: 0, ...LIMITS }), RangeError);
  });

  it("counts an epoch's images by utilization", () => {
    assert.deepEqual(
      (["real", "FC", "FR", "LRR", "GRR"] as const).map((kind) => epochImages(kind, 25, 100)),
      [25, 125, 100, 25, 25],
    );
  });

  it("fits a separable 5-shot, 5-class set with the sized defaults", async (t) => {
    const trainSet = barsSet(25, 1, 5);
    const recipe = resolveRecipe({ images: 25, ...LIMITS });
    const result = await trainClassifier({
      trainSet,
      model: TINY_MODEL,
      ...recipe,
      // The classifier service's defaults: SGD (momentum 0.9), lr 0.05, weight decay 5e-4, cosine.
      optimizer: "sgd",
      lr: 0.05,
      weightDecay: 5e-4,
      seed: 0,
      threads: 1,
      worker: false,
    });
    assert.equal(result.steps, recipe.epochs * stepsPerEpoch(25, recipe.batchSize));
    assert.ok(result.steps >= RECIPE.minSteps);
    assert.equal(result.imagesSeen, result.steps * recipe.batchSize, "24 of the 25 images an epoch");
    const ev = await evaluateClassifier(result.parameters, result.config, trainSet, {
      worker: false,
      threads: 1,
    });
    t.diagnostic(
      `batch ${recipe.batchSize}, ${recipe.epochs} epochs, ${result.steps} steps: top-1 ${ev.top1}`,
    );
    assert.ok(ev.top1 >= 0.95, `training top-1 ${ev.top1}`);
  });

  it("gives a job the step budget of its no-augmentation baseline", () => {
    // 25 images: batch 4, 6 steps an epoch, 50 epochs for the 300-step minimum.
    assert.deepEqual(stepBudget(25, {}), { batchSize: 4, maxSteps: 300 });
    // The job's own batch and epochs: 50 images at batch 8 for 30 epochs.
    assert.deepEqual(stepBudget(50, { batchSize: 8, epochs: 30 }), { batchSize: 8, maxSteps: 180 });
    // A large set keeps the fixed default: batch 128 for 30 epochs.
    assert.deepEqual(stepBudget(12_800, {}), { batchSize: 128, maxSteps: 3000 });
  });
});
