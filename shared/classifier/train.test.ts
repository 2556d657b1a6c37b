import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { loadBuiltinDataset, makeFewShotTask, padImageSet, withImages } from "../data/index.js";
import type { Tensor } from "../ml/onnx/index.js";
import { evaluateClassifier } from "./evaluate.js";
import { barsSet, TINY_MODEL } from "./test-sets.js";
import { type ProgressEvent, type TrainClassifierOptions, trainClassifier } from "./train.js";

const BASE = {
  model: TINY_MODEL,
  batchSize: 30,
  lr: 1e-2,
  warmupEpochs: 1,
  seed: 1,
  threads: 1,
  worker: false,
} satisfies Partial<TrainClassifierOptions>;

const mean = (xs: number[]) => xs.reduce((a, v) => a + v, 0) / xs.length;

function sameParameters(a: Map<string, Tensor>, b: Map<string, Tensor>): boolean {
  if (a.size !== b.size) return false;
  for (const [name, t] of a) {
    const u = b.get(name);
    if (!u || u.data.length !== t.data.length) return false;
    for (let i = 0; i < t.data.length; i++) if (!Object.is(t.data[i], u.data[i])) return false;
  }
  return true;
}

describe("trainClassifier", () => {
  it("learns a separable task: the loss falls and held-out accuracy is far above chance", async (t) => {
    const losses: number[] = [];
    const result = await trainClassifier({
      ...BASE,
      trainSet: barsSet(90, 1),
      epochs: 20,
      onProgress: (e) => losses.push(e.loss),
    });
    assert.equal(result.steps, 60);
    assert.equal(losses.length, 60);
    assert.equal(result.history.length, 20);
    const ev = await evaluateClassifier(result.parameters, result.config, barsSet(60, 2), {
      worker: false,
      threads: 1,
    });
    t.diagnostic(
      `loss ${mean(losses.slice(0, 3)).toFixed(3)} → ${mean(losses.slice(-3)).toFixed(3)}, top-1 ${ev.top1}`,
    );
    assert.ok(mean(losses.slice(-3)) < 0.5 * mean(losses.slice(0, 3)));
    assert.ok(ev.top1 >= 0.9, `top-1 ${ev.top1}`);
  });

  it("trains on MixUp/CutMix soft targets with label smoothing", async () => {
    const result = await trainClassifier({
      ...BASE,
      trainSet: barsSet(90, 1),
      epochs: 20,
      augment: { mix: { mode: "either", alpha: 1, probability: 1 } },
      labelSmoothing: 0.1,
    });
    const h = result.history;
    assert.ok(h.every((r) => Number.isFinite(r.loss)));
    assert.ok(h[h.length - 1].loss < h[0].loss, `${h[0].loss} → ${h[h.length - 1].loss}`);
    const ev = await evaluateClassifier(result.parameters, result.config, barsSet(60, 2), { worker: false });
    assert.ok(ev.top1 > 0.6, `top-1 ${ev.top1}`);
  });

  it("is deterministic: the same seed gives the same loss curve and weights, another seed does not", async () => {
    const run = async (seed: number) => {
      const losses: number[] = [];
      const r = await trainClassifier({
        ...BASE,
        seed,
        trainSet: barsSet(60, 1),
        epochs: 2,
        augment: "mix",
        onProgress: (e) => losses.push(e.loss),
      });
      return { losses, parameters: r.parameters };
    };
    const a = await run(4);
    const b = await run(4);
    const c = await run(5);
    assert.deepEqual(a.losses, b.losses);
    assert.ok(sameParameters(a.parameters, b.parameters));
    assert.notDeepEqual(a.losses, c.losses);
  });

  it("resumes from a checkpoint taken at an abort mid-epoch to exactly the uninterrupted result", async () => {
    const dir = await mkdtemp(join(tmpdir(), "diffda-classifier-"));
    try {
      const options = {
        ...BASE,
        worker: true,
        trainSet: barsSet(90, 1),
        epochs: 2,
        augment: "flip-crop" as const,
      };
      const straight: ProgressEvent[] = [];
      const full = await trainClassifier({ ...options, onProgress: (e) => straight.push(e) });

      const controller = new AbortController();
      await assert.rejects(
        trainClassifier({
          ...options,
          checkpointDir: dir,
          signal: controller.signal,
          onProgress: (e) => e.step === 4 && controller.abort(),
        }),
        { name: "AbortError" },
      );
      const resumed: ProgressEvent[] = [];
      const second = await trainClassifier({
        ...options,
        checkpointDir: dir,
        resume: true,
        onProgress: (e) => resumed.push(e),
      });
      assert.equal(second.resumedFrom, 4);
      assert.deepEqual(
        resumed.map((e) => e.loss),
        straight.slice(4).map((e) => e.loss),
      );
      assert.ok(sameParameters(full.parameters, second.parameters));
      assert.deepEqual(
        second.history.map((h) => h.loss),
        full.history.map((h) => h.loss),
      );
      // A checkpoint of another run is refused rather than silently mixed in.
      await assert.rejects(
        trainClassifier({ ...options, seed: 2, checkpointDir: dir, resume: true }),
        /another run/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("trains on ~200 Fashion-MNIST images to well above chance", async (t) => {
    const dataset = await loadBuiltinDataset("fashion-mnist");
    const task = makeFewShotTask(dataset, { shots: 20, seed: 0, testPerClass: 30 });
    const losses: number[] = [];
    const result = await trainClassifier({
      ...BASE,
      model: { widths: [8, 16, 32], groups: 4 },
      trainSet: padImageSet(task.trainSet, 32, 32),
      batchSize: 50,
      epochs: 20,
      lr: 1e-2,
      onProgress: (e) => losses.push(e.loss),
    });
    const ev = await evaluateClassifier(result.parameters, result.config, padImageSet(task.testSet, 32, 32), {
      worker: false,
    });
    t.diagnostic(
      `loss ${mean(losses.slice(0, 4)).toFixed(3)} → ${mean(losses.slice(-4)).toFixed(3)}, top-1 ${ev.top1}`,
    );
    assert.ok(mean(losses.slice(-4)) < mean(losses.slice(0, 4)));
    assert.ok(ev.top1 > 0.4, `top-1 ${ev.top1} (chance 0.1)`);
  });

  it("mixes synthetic images in by a utilization strategy", async () => {
    const real = barsSet(30, 1);
    // "Synthetic" variants: the real images darkened a little, each pointing at its source.
    const synthetic = {
      ...withImages(
        real,
        real.images.map((v) => 0.9 * v),
        real,
      ),
      sourceIndex: Int32Array.from({ length: 30 }, (_, i) => i),
    };
    const result = await trainClassifier({
      ...BASE,
      trainSet: real,
      synthetic,
      utilization: { kind: "LRR", p: 0.5 },
      epochs: 2,
    });
    assert.ok(result.history.every((h) => h.replaced > 0 && h.replaced < 30));
    const fc = await trainClassifier({
      ...BASE,
      trainSet: real,
      synthetic,
      utilization: { kind: "FC" },
      epochs: 1,
    });
    assert.equal(fc.steps, 2); // 60 images, batches of 30
  });

  it("counts the images it trained on: full batches, or every image when the last batch is kept", async () => {
    const run = (count: number, dropLast?: boolean) =>
      trainClassifier({ ...BASE, trainSet: barsSet(count, 1), epochs: 2, dropLast });
    const [full, small, kept] = await Promise.all([run(70), run(9), run(40, false)]);
    assert.deepEqual([full.steps, full.imagesSeen], [4, 120], "2 batches of 30 an epoch, 10 dropped");
    assert.deepEqual([small.steps, small.imagesSeen], [2, 18], "9 images, under one batch");
    assert.deepEqual([kept.steps, kept.imagesSeen], [4, 80], "30 + 10 an epoch");
  });

  it("stops at a step budget part-way through an epoch, whatever the epochs allow", async () => {
    const set = barsSet(70, 1); // 2 full batches of 30 an epoch
    const budget = await trainClassifier({ ...BASE, trainSet: set, epochs: 10, maxSteps: 5 });
    assert.deepEqual([budget.steps, budget.imagesSeen, budget.history.length], [5, 150, 3]);
    const roomy = await trainClassifier({ ...BASE, trainSet: set, epochs: 2, maxSteps: 50 });
    assert.equal(roomy.steps, 4, "the epochs end first");
    await assert.rejects(trainClassifier({ ...BASE, trainSet: set, epochs: 1, maxSteps: 0 }), /maxSteps/);
  });

  it("rejects images the model cannot take", async () => {
    await assert.rejects(
      trainClassifier({
        ...BASE,
        trainSet: barsSet(9, 1),
        epochs: 1,
        model: { ...TINY_MODEL, imageSize: 32 },
      }),
      /takes/,
    );
  });

  it("opens its training and evaluation sessions on the execution providers it is given", async () => {
    // An unknown provider fails session creation on every machine: the rejection proves it was passed on.
    const executionProviders = ["diffda-no-such-provider"];
    await assert.rejects(
      trainClassifier({ ...BASE, trainSet: barsSet(9, 1), epochs: 1, executionProviders }),
      /diffda-no-such-provider/,
    );
    const trained = await trainClassifier({
      ...BASE,
      trainSet: barsSet(30, 1),
      epochs: 1,
      executionProviders: ["cpu"],
    });
    await assert.rejects(
      evaluateClassifier(trained.parameters, trained.config, barsSet(6, 2), { executionProviders }),
      /diffda-no-such-provider/,
    );
  });
});
