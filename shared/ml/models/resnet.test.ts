import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Rng } from "../../random/index.js";
import { f32, type Tensor } from "../onnx/index.js";
import { createSession, runSession } from "../runtime/index.js";
import {
  buildResNet,
  buildResNetTraining,
  featureSize,
  RESNET_INPUT,
  RESNET_LOSS,
  RESNET_OUTPUT,
  RESNET_TARGETS,
  resnetConfig,
  resnetMacs,
} from "./resnet.js";

function images(n: number, c: number, size: number, seed = 1): Tensor {
  const x = f32([n, c, size, size]);
  const data = x.data as Float32Array;
  const rng = new Rng(seed);
  for (let i = 0; i < data.length; i++) data[i] = rng.nextFloat();
  return x;
}

describe("resnet", () => {
  it("counts parameters as the architecture says (stem, blocks, projection shortcut, head)", () => {
    const c = resnetConfig({ inChannels: 1, numClasses: 3, imageSize: 16, widths: [8, 16], groups: 4 });
    // stem 8·1·9 + GN 16; block 8→8: 2·(8·8·9) + 2 GN·16; block 8→16 stride 2: 16·8·9 + 16·16·9 + 2 GN·32
    // + shortcut 16·8 + GN 32; head 16·3 + 3.
    const expected = 72 + 16 + (576 * 2 + 32) + (1152 + 2304 + 64 + 128 + 32) + 51;
    assert.equal(buildResNet(c).parameterCount, expected);
    assert.equal(buildResNetTraining(c).parameterCount, expected);
  });

  it("maps [batch, 1, 32, 32] images to [batch, K] logits with a symbolic batch", async () => {
    const c = resnetConfig({ inChannels: 1, numClasses: 10, widths: [8, 16, 32] });
    const session = await createSession(buildResNet(c, 3).graph, { threads: 1 });
    for (const n of [1, 5]) {
      const out = await runSession(session, { [RESNET_INPUT]: images(n, 1, 32) }, [RESNET_OUTPUT]);
      assert.deepEqual(out[RESNET_OUTPUT].dims, [n, 10]);
      assert.ok((out[RESNET_OUTPUT].data as Float32Array).every(Number.isFinite));
    }
    await session.release();
  });

  it("takes bigger RGB inputs through a strided stem and max pool", async () => {
    const c = resnetConfig({
      inChannels: 3,
      numClasses: 5,
      imageSize: 64,
      widths: [16, 32, 64],
      stem: { kernel: 7, stride: 2, maxPool: true },
    });
    assert.equal(featureSize(c), 4);
    const session = await createSession(buildResNet(c).graph, { threads: 1 });
    const out = await runSession(session, { [RESNET_INPUT]: images(2, 3, 64) }, [RESNET_OUTPUT]);
    assert.deepEqual(out[RESNET_OUTPUT].dims, [2, 5]);
    await session.release();
    assert.ok(resnetMacs(c) > 0);
  });

  it("the training graph has the same weights and logits for a seed, and a smoothed cross-entropy loss", async () => {
    const c = resnetConfig({ inChannels: 1, numClasses: 4, imageSize: 16, widths: [8, 16], groups: 4 });
    const infer = buildResNet(c, 7).graph;
    const train = buildResNetTraining(c, { seed: 7, labelSmoothing: 0.1 }).graph;
    for (const p of infer.params) {
      assert.deepEqual(train.initializers.get(p)?.data, infer.initializers.get(p)?.data, p);
    }
    const x = images(3, 1, 16);
    const targets = f32([3, 4], Float32Array.from([1, 0, 0, 0, 0, 0.5, 0.5, 0, 0, 0, 0, 1]));
    const a = await createSession(infer, { threads: 1 });
    const b = await createSession(train, { threads: 1 });
    const la = (await runSession(a, { [RESNET_INPUT]: x }))[RESNET_OUTPUT].data as Float32Array;
    const out = await runSession(b, { [RESNET_INPUT]: x, [RESNET_TARGETS]: targets });
    assert.deepEqual(out[RESNET_OUTPUT].data, la);
    // Reference loss in float64 from the logits.
    let loss = 0;
    for (let i = 0; i < 3; i++) {
      const row = Array.from(la.subarray(i * 4, i * 4 + 4));
      const max = Math.max(...row);
      const lse = max + Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0));
      for (let k = 0; k < 4; k++) loss -= (0.9 * Number(targets.data[i * 4 + k]) + 0.1 / 4) * (row[k] - lse);
    }
    assert.ok(Math.abs(Number(out[RESNET_LOSS].data[0]) - loss / 3) < 1e-5);
    await a.release();
    await b.release();
  });

  it("starts every residual branch at zero (last GN scale 0), unless told not to", () => {
    const c = resnetConfig({ inChannels: 1, numClasses: 2, imageSize: 16, widths: [8, 16], groups: 4 });
    const scales = (g: ReturnType<typeof buildResNet>) =>
      [...g.graph.params]
        .filter((p) => p.endsWith("norm2.weight"))
        .map((p) => g.graph.initializers.get(p)?.data as Float32Array);
    const zero = scales(buildResNet(c));
    assert.equal(zero.length, 2);
    for (const t of zero) assert.ok(t.every((v) => v === 0));
    const one = scales(buildResNet({ ...c, zeroInitResidual: false }));
    for (const t of one) assert.ok(t.every((v) => v === 1));
  });

  it("rejects inconsistent configs", () => {
    assert.throws(() => resnetConfig({ inChannels: 1, numClasses: 10, widths: [12, 24] }), /divisible/);
    assert.throws(
      () => resnetConfig({ inChannels: 1, numClasses: 10, widths: [8, 16], blocksPerStage: [1, 1, 1] }),
      /blocksPerStage/,
    );
    assert.throws(() => resnetConfig({ inChannels: 3, numClasses: 10, inputMean: [0.5] }), /inputMean/);
    assert.throws(() => resnetConfig({ inChannels: 1, numClasses: 0 }), /numClasses/);
  });
});
