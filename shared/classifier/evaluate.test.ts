import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { buildResNet, resnetConfig } from "../ml/models/resnet.js";
import { evaluateClassifier } from "./evaluate.js";
import { decodeClassifier, encodeClassifier, exportClassifier, loadClassifier } from "./export.js";
import type { Classifier } from "./model.js";
import { barsSet, TINY_MODEL } from "./test-sets.js";

/** An untrained classifier for the 16 px bars task (its predictions are arbitrary but fixed). */
function untrained(seed = 1): Classifier {
  const config = resnetConfig({
    inChannels: 1,
    numClasses: 3,
    imageSize: 16,
    ...TINY_MODEL,
    zeroInitResidual: false,
  });
  const { graph } = buildResNet(config, seed);
  const parameters = new Map([...graph.params].map((p) => [p, graph.initializers.get(p)!]));
  return { config, parameters, classNames: ["horizontal", "vertical", "square"] };
}

describe("evaluateClassifier", () => {
  it("reports a confusion matrix that sums to the count, with per-class accuracy and top-1 that agree", async () => {
    const c = untrained();
    const test = barsSet(31, 3);
    const ev = await evaluateClassifier(c.parameters, c.config, test, { batchSize: 8, worker: false });
    assert.equal(ev.count, 31);
    const cm = ev.confusionMatrix;
    assert.equal(
      cm.flat().reduce((a, v) => a + v, 0),
      31,
    );
    const counts = [0, 0, 0];
    for (const label of test.labels) counts[label]++;
    cm.forEach((row, k) => {
      assert.equal(
        row.reduce((a, v) => a + v, 0),
        counts[k],
      );
      assert.equal(ev.perClassAccuracy[k], row[k] / counts[k]);
    });
    assert.equal(ev.top1, cm.reduce((a, row, k) => a + row[k], 0) / 31);
    const correct = ev.predictions.filter((p, i) => p === test.labels[i]).length;
    assert.equal(ev.top1, correct / 31);
  });

  it("gives the same predictions whatever the batch size (tail batch included) and in a worker", async () => {
    const c = untrained(2);
    const test = barsSet(23, 4);
    const whole = await evaluateClassifier(c.parameters, c.config, test, { batchSize: 23, worker: false });
    const tail = await evaluateClassifier(c.parameters, c.config, test, { batchSize: 5, worker: true });
    assert.deepEqual(tail.predictions, whole.predictions);
    assert.deepEqual(tail.confusionMatrix, whole.confusionMatrix);
  });

  it("stops when its signal is aborted", async () => {
    const c = untrained();
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(
      evaluateClassifier(c.parameters, c.config, barsSet(12, 1), { batchSize: 4, signal: controller.signal }),
      { name: "AbortError" },
    );
  });

  it("rejects a test set of another shape or class count", async () => {
    const c = untrained();
    const other = { ...barsSet(3, 1), classNames: ["a", "b", "c", "d"] };
    await assert.rejects(evaluateClassifier(c.parameters, c.config, other, { worker: false }), /classes/);
  });
});

describe("export", () => {
  it("round-trips weights, config and class names through safetensors, file and bytes", async () => {
    const c = untrained(3);
    const dir = await mkdtemp(join(tmpdir(), "diffda-export-"));
    try {
      const path = join(dir, "classifier.safetensors");
      await exportClassifier(path, c, { test_top1: "0.5" });
      const back = await loadClassifier(path);
      assert.deepEqual(back.config, c.config);
      assert.deepEqual(back.classNames, c.classNames);
      assert.equal(back.metadata.test_top1, "0.5");
      const test = barsSet(9, 5);
      const a = await evaluateClassifier(c.parameters, c.config, test, { worker: false });
      const b = await evaluateClassifier(back.parameters, back.config, test, { worker: false });
      assert.deepEqual(b.predictions, a.predictions);
      const fromBytes = decodeClassifier(encodeClassifier(c));
      assert.deepEqual([...fromBytes.parameters.keys()].sort(), [...c.parameters.keys()].sort());
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("refuses weights that do not fit the config", () => {
    const c = untrained();
    const parameters = new Map(c.parameters);
    parameters.delete("head.bias");
    assert.throws(() => encodeClassifier({ ...c, parameters }), /head\.bias is missing/);
    const wider = { ...c, config: { ...c.config, widths: [16, 32] } };
    assert.throws(() => encodeClassifier(wider), /expected/);
  });
});
