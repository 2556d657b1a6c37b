import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createImageSet, generateTextures } from "../data/index.js";
import { type ResNetConfig, resnetConfig } from "../ml/models/resnet.js";
import type { Tensor } from "../ml/onnx/index.js";
import { ARCHITECTURES, stemFor } from "./architectures.js";
import { BACKBONE_RECIPE, backboneWeights, loadBackbone } from "./backbone.js";
import { classifierLogits } from "./evaluate.js";
import { trainClassifier } from "./train.js";

const ID = "tinted-digits-resnet8";
const RUN = { threads: 1, worker: false } as const;

function network(inChannels: number, numClasses: number, architecture = "resnet8"): ResNetConfig {
  return resnetConfig({
    inChannels,
    numClasses,
    imageSize: 32,
    stem: stemFor(32),
    ...ARCHITECTURES[architecture],
  });
}

/** 5 shots of each of the 8 texture classes: the ood task's shape (3×32×32). */
function fiveShotTextures() {
  const t = generateTextures({ perClass: 5, seed: 7 });
  return createImageSet({
    channels: 3,
    height: 32,
    width: 32,
    images: Float32Array.from(t.pixels, (v) => v / 255),
    labels: t.labels,
    classNames: t.classNames,
  });
}

const mean = (xs: number[]) => xs.reduce((a, v) => a + v, 0) / xs.length;

describe("backbone", () => {
  it("fits a gray run: the summed stem on a gray image is the backbone on its RGB copy", async () => {
    const bb = await loadBackbone(ID);
    const gray = network(1, 10);
    const weights = backboneWeights(bb, gray);
    assert.ok(![...weights.keys()].some((k) => k.startsWith("head.")), "the head is not carried over");
    assert.deepEqual(weights.get("stem.conv.weight")?.dims, [32, 1, 3, 3]);
    for (const [name, t] of bb.classifier.parameters) if (name.startsWith("head.")) weights.set(name, t);
    const plane = new Float32Array(4 * 32 * 32).map((_, i) => ((i * 7919) % 255) / 255);
    const grayImages = createImageSet({
      channels: 1,
      height: 32,
      width: 32,
      images: plane,
      labels: new Int32Array(4),
      classNames: bb.classifier.classNames,
    });
    const rgb = new Float32Array(3 * plane.length);
    for (let n = 0; n < 4; n++)
      for (let c = 0; c < 3; c++) rgb.set(plane.subarray(n * 1024, (n + 1) * 1024), (n * 3 + c) * 1024);
    const rgbImages = { ...grayImages, channels: 3, images: rgb };
    const a = await classifierLogits(weights, gray, grayImages, RUN);
    const b = await classifierLogits(bb.classifier.parameters, bb.classifier.config, rgbImages, RUN);
    for (let i = 0; i < a.length; i++)
      assert.ok(Math.abs(a[i] - b[i]) < 1e-3, `logit ${i}: ${a[i]} vs ${b[i]}`);
  });

  it("refuses a network of another shape", async () => {
    const bb = await loadBackbone(ID);
    assert.throws(() => backboneWeights(bb, network(3, 4, "resnet20")), /differs/);
    assert.throws(() => backboneWeights(bb, network(2, 4)), /2 channels/);
  });

  it("fine-tunes on a 5-shot task: the loss falls, and lrScale 0 keeps the backbone frozen", async () => {
    const bb = await loadBackbone(ID);
    const trainSet = fiveShotTextures();
    const model = network(3, 8);
    const parameters = backboneWeights(bb, model);
    const losses: number[] = [];
    const tuned = await trainClassifier({
      ...RUN,
      trainSet,
      model,
      init: { parameters, lrScale: BACKBONE_RECIPE.lrScale },
      epochs: 8,
      batchSize: 8,
      optimizer: "adamw",
      lr: 2e-3,
      seed: 0,
      onProgress: (e) => losses.push(e.loss),
    });
    assert.equal(tuned.steps, 40);
    assert.ok(
      mean(losses.slice(-5)) < 0.9 * mean(losses.slice(0, 5)),
      `loss ${mean(losses.slice(0, 5))} → ${mean(losses.slice(-5))}`,
    );
    const values = (map: Map<string, Tensor>, name: string) => {
      const t = map.get(name);
      assert.ok(t, name);
      return t.data as Float32Array;
    };
    const moved = (name: string, result: typeof tuned) => {
      const before = values(bb.classifier.parameters, name);
      return values(result.parameters, name).some((v, i) => v !== before[i]);
    };
    assert.ok(moved("stem.conv.weight", tuned), "a scaled rate still fine-tunes the backbone");

    const frozen = await trainClassifier({
      ...RUN,
      trainSet,
      model,
      init: { parameters, lrScale: 0 },
      epochs: 1,
      batchSize: 8,
      seed: 0,
    });
    for (const name of parameters.keys()) assert.ok(!moved(name, frozen), `${name} stays`);
    const head = values(frozen.parameters, "head.weight");
    const scratch = await trainClassifier({ ...RUN, trainSet, model, epochs: 1, batchSize: 8, seed: 0 });
    const scratchHead = values(scratch.parameters, "head.weight");
    assert.ok(
      head.some((v, i) => v !== scratchHead[i]),
      "the head trained on the backbone's features",
    );
  });
});
