import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Rng } from "../../random/index.js";
import { GraphBuilder } from "../graph/builder.js";
import { mse } from "../nn/loss.js";
import { f32, type Tensor } from "../onnx/tensor.js";
import { adamw, constantSchedule } from "../optim/index.js";
import { createSession, runSession, Trainer } from "../runtime/index.js";
import { parameterCount, resnetGraph, type UNetConfig, unetGraph } from "./index.js";

function random(rng: Rng, dims: number[]): Tensor {
  const t = f32(dims);
  rng.fillNormal(t.data as Float32Array);
  return t;
}

const tiny: UNetConfig = {
  inChannels: 4,
  outChannels: 4,
  channels: [16, 32],
  attention: [false, true],
  layersPerLevel: 1,
  contextDim: 12,
  heads: 2,
  groups: 4,
};

describe("UNet", () => {
  it("maps [B, 4, H, W] to [B, 4, H, W] for any batch, with diffusers-style parameter names", async () => {
    const u = unetGraph(tiny, { height: 8, width: 8, seed: 1 });
    for (const name of [
      "conv_in.weight",
      "time_embedding.linear_1.weight",
      "down_blocks.0.resnets.0.conv1.weight",
      "down_blocks.0.downsamplers.0.weight",
      "down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.weight",
      "mid_block.attentions.0.proj_in.weight",
      "up_blocks.1.resnets.1.conv_shortcut.weight",
      "up_blocks.0.upsamplers.0.conv.weight",
      "conv_out.weight",
    ]) {
      assert.ok(u.graph.params.has(name), name);
    }
    const session = await createSession(u.graph, { threads: 1 });
    const rng = new Rng(2);
    for (const batch of [1, 3]) {
      const out = await runSession(session, {
        sample: random(rng, [batch, 4, 8, 8]),
        timestep: f32([batch], new Array(batch).fill(10)),
        encoder_hidden_states: random(rng, [batch, 5, 12]),
      });
      assert.deepEqual(out.out_sample.dims, [batch, 4, 8, 8]);
    }
    assert.ok(parameterCount(u.graph) > 50_000);
  });

  it("learns to denoise a fixed batch (the loss falls over a few AdamW steps)", async () => {
    const u = unetGraph(tiny, { height: 8, width: 8, seed: 3 });
    const b = new GraphBuilder({ graph: u.graph });
    b.output(mse(b, u.output, b.input("target", ["batch", 4, 8, 8])), "loss");
    const trainer = await Trainer.create({
      graph: u.graph,
      loss: "loss",
      trainable: [...u.graph.params],
      optimizer: adamw(),
      schedule: constantSchedule(3e-3),
      session: { threads: 1 },
    });
    const rng = new Rng(4);
    const batch = {
      sample: random(rng, [4, 4, 8, 8]),
      timestep: f32([4], [1, 200, 400, 900]),
      encoder_hidden_states: random(rng, [4, 5, 12]),
      target: random(rng, [4, 4, 8, 8]),
    };
    const first = (await trainer.trainStep(batch)).loss;
    let last = first;
    for (let i = 0; i < 15; i++) last = (await trainer.trainStep(batch)).loss;
    assert.ok(last < 0.7 * first, `${first} → ${last}`);
    await trainer.release();
  });
});

describe("ResNet", () => {
  it("classifies [B, 1, 28, 28] into logits and trains", async () => {
    const r = resnetGraph(
      { inChannels: 1, classes: 10, widths: [8, 16], blocks: 1, groups: 4 },
      { height: 28, width: 28 },
    );
    const trainer = await Trainer.create({
      graph: r.graph,
      loss: r.loss,
      trainable: [...r.graph.params],
      optimizer: adamw(),
      schedule: constantSchedule(1e-2),
      session: { threads: 1 },
    });
    const rng = new Rng(5);
    const targets = f32([8, 10]);
    for (let i = 0; i < 8; i++) (targets.data as Float32Array)[i * 10 + (i % 10)] = 1;
    const batch = { images: random(rng, [8, 1, 28, 28]), targets };
    const first = (await trainer.trainStep(batch)).loss;
    let last = first;
    for (let i = 0; i < 10; i++) last = (await trainer.trainStep(batch)).loss;
    assert.ok(last < first, `${first} → ${last}`);
    await trainer.release();
  });
});
