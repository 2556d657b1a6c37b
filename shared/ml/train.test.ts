import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Rng } from "../random/index.js";
import { GraphBuilder, withParameters } from "./graph/index.js";
import {
  conv2d,
  globalAvgPool,
  groupNorm,
  linear,
  maxPool2d,
  relu,
  softmaxCrossEntropy,
} from "./nn/index.js";
import { f32, type Tensor } from "./onnx/index.js";
import { adamw, warmupCosine } from "./optim/index.js";
import { createSession, runSession, Trainer } from "./runtime/index.js";

/** 8×8 images with a horizontal (class 0) or vertical (class 1) bar at a random place, plus noise. */
function bars(rng: Rng, n: number): { x: Tensor; y: Tensor; labels: number[] } {
  const x = f32([n, 1, 8, 8]);
  const y = f32([n, 2]);
  const labels: number[] = [];
  const px = x.data as Float32Array;
  for (let i = 0; i < n; i++) {
    const label = rng.nextInt(2);
    const at = rng.nextInt(8);
    for (let k = 0; k < 64; k++) px[i * 64 + k] = 0.3 * rng.nextNormal();
    for (let j = 0; j < 8; j++) px[i * 64 + (label === 0 ? at * 8 + j : j * 8 + at)] += 1;
    (y.data as Float32Array)[i * 2 + label] = 1;
    labels.push(label);
  }
  return { x, y, labels };
}

/** conv → GN → ReLU → maxpool → conv → ReLU → global average → linear. */
function tinyCnn(b: GraphBuilder, x: string): string {
  let h = conv2d(b, "conv1", x, { inChannels: 1, outChannels: 8, kernel: 3 });
  h = maxPool2d(b, relu(b, groupNorm(b, "norm1", h, { channels: 8, groups: 2 })), 2);
  h = relu(b, conv2d(b, "conv2", h, { inChannels: 8, outChannels: 16, kernel: 3 }));
  return linear(b, "fc", globalAvgPool(b, h), { inFeatures: 16, outFeatures: 2 });
}

describe("end to end", () => {
  it("trains a tiny CNN on a synthetic task: the loss falls and held-out accuracy is high", async (t) => {
    const b = new GraphBuilder({ seed: 3 });
    const x = b.input("x", ["batch", 1, 8, 8]);
    const targets = b.input("targets", ["batch", 2]);
    const logits = tinyCnn(b, x);
    b.output(logits, "logits");
    const loss = softmaxCrossEntropy(b, logits, targets, { classes: 2, labelSmoothing: 0.05 });
    b.output(loss, "loss");
    const forward = b.graph.clone();

    const trainer = await Trainer.create({
      graph: b.graph,
      loss: "loss",
      trainable: [...b.graph.params],
      optimizer: adamw({ weightDecay: 1e-4 }),
      schedule: warmupCosine({ peak: 2e-2, warmup: 5, total: 80 }),
      session: { threads: 1 },
    });
    const rng = new Rng(5);
    const losses: number[] = [];
    for (let step = 0; step < 80; step++) {
      const batch = bars(rng, 16);
      losses.push((await trainer.trainStep({ x: batch.x, targets: batch.y })).loss);
    }
    const first = losses.slice(0, 5).reduce((a, c) => a + c) / 5;
    const last = losses.slice(-5).reduce((a, c) => a + c) / 5;
    assert.ok(last < first / 3, `loss ${first.toFixed(3)} → ${last.toFixed(3)}`);

    // Inference with the trained weights as initializers.
    const trained = withParameters(forward, trainer.modelParameters());
    const session = await createSession(trained, { threads: 1 });
    const test = bars(new Rng(99), 64);
    const out = await runSession(session, { x: test.x, targets: test.y }, ["logits"]);
    const l = out.logits.data as Float32Array;
    const correct = test.labels.filter((label, i) => (l[2 * i + 1] > l[2 * i] ? 1 : 0) === label).length;
    t.diagnostic(`loss ${first.toFixed(3)} → ${last.toFixed(3)}, held-out accuracy ${correct}/64`);
    assert.ok(correct / 64 >= 0.9, `accuracy ${correct}/64`);
    await trainer.release();
  });
});
