import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { loadDiffusionModel } from "../diffusion/models/index.js";
import { type TempModel, tempTinyModel } from "../diffusion/testing/fixtures.js";
import { Graph, GraphBuilder } from "../ml/graph/index.js";
import { DataType, f32, type ModelProto } from "../ml/onnx/index.js";
import { createSession, runSession } from "../ml/runtime/index.js";
import {
  addLoraPaths,
  composeTrainingGraph,
  inlineExternalData,
  loadTrainingInputs,
  TEXT_ENCODER_LORA_TARGETS,
  trainingBatch,
  UNET_LORA_TARGETS,
  upgradeOpset,
} from "./index.js";
import { tinyImageSet } from "./test-fixtures.js";

async function lossOf(graph: Graph, feeds: Parameters<typeof runSession>[1]): Promise<number> {
  const session = await createSession(graph, { threads: 1 });
  try {
    return Number((await runSession(session, feeds, ["loss"])).loss.data[0]);
  } finally {
    await session.release();
  }
}

describe("training graphs from model folders", () => {
  const temps: TempModel[] = [];
  after(async () => {
    for (const t of temps) await t.remove();
  });

  for (const layout of ["legacy", "optimum"] as const) {
    it(`the joined graph (${layout}) computes the noise-prediction MSE of the folder's own components`, async () => {
      const folder = await tempTinyModel({ layout });
      temps.push(folder);
      const images = tinyImageSet();
      const { inputs, plan } = await loadTrainingInputs({
        modelDir: folder.dir,
        images,
        resolution: 32,
        flip: true,
        templates: ["a photo of a {}", "a {}"],
        seed: 5,
      });
      const B = 3;
      const training = composeTrainingGraph(inputs.textEncoder, inputs.unet, { ...inputs.shape, batch: B });
      const batch = trainingBatch(
        {
          ...plan,
          tokenizer: inputs.tokenizer,
          classWords: ["cat", "dog"],
          batchSize: B,
          flipProbability: 0.5,
        },
        2,
      );
      assert.equal(new Set(batch.timesteps).size, B, "one timestep per sample");
      const fromGraph = await lossOf(training.graph, batch.feeds);

      const model = await loadDiffusionModel(folder.dir);
      try {
        const { channels, height, width } = plan.examples;
        const size = channels * height * width;
        const noisy = batch.feeds.noisy_latents.data as Float32Array;
        const target = batch.feeds.target.data as Float32Array;
        let sum = 0;
        for (let k = 0; k < B; k++) {
          const ids = Int32Array.from(inputs.tokenizer.encode(batch.prompts[k]).inputIds);
          const states = await model.textEncoder.encode(ids, 1, ids.length);
          const eps = await model.unet.predict(
            noisy.slice(k * size, (k + 1) * size),
            { batch: 1, channels, height, width },
            batch.timesteps[k],
            states,
          );
          for (let i = 0; i < size; i++) sum += (eps[i] - target[k * size + i]) ** 2;
        }
        const fromComponents = sum / (B * size);
        assert.ok(
          Math.abs(fromGraph - fromComponents) <= 1e-5 * fromComponents,
          `${fromGraph} vs ${fromComponents}`,
        );
      } finally {
        await model.release();
      }

      // LoRA paths start at B = 0: the graph computes exactly what it computed before.
      const unet = addLoraPaths(training.graph, "unet", training.modules.unet, UNET_LORA_TARGETS, {
        rank: 2,
        alpha: 2,
        seed: 0,
      });
      const te = addLoraPaths(
        training.graph,
        "text_encoder",
        training.modules.text_encoder,
        TEXT_ENCODER_LORA_TARGETS,
        { rank: 2, alpha: 4, seed: 0 },
      );
      assert.equal(unet.length, 8);
      assert.deepEqual(
        te.map((p) => p.module.split(".").at(-1)),
        ["q_proj", "k_proj", "v_proj", "out_proj"],
      );
      const cross = unet.find((p) => p.module.endsWith("attn2.to_k"));
      assert.deepEqual(training.graph.initializers.get(cross?.down as string)?.dims, [16, 2], "A is [in, r]");
      assert.deepEqual(training.graph.initializers.get(cross?.up as string)?.dims, [2, 8], "B is [r, out]");
      assert.equal(await lossOf(training.graph, batch.feeds), fromGraph);
    });
  }

  it("raises an opset-17 export to opset 21 (Reduce axes become inputs)", async () => {
    const b = new GraphBuilder();
    const x = b.input("x", [2, 3]);
    b.graph.opsets.set("", 17);
    b.graph.addNode({
      op: "ReduceMean",
      inputs: [x],
      outputs: ["m"],
      attrs: { axes: { kind: "ints", value: [1] }, keepdims: { kind: "int", value: 0 } },
      name: "mean",
      domain: "",
    });
    b.graph.addOutput({ name: "m", dtype: DataType.FLOAT, shape: [2] });
    const feeds = { x: f32([2, 3], [1, 2, 3, 4, 5, 9]) };
    const before = await createSession(b.graph);
    const expected = Array.from((await runSession(before, feeds)).m.data as Float32Array);
    await before.release();
    upgradeOpset(b.graph, 21);
    assert.equal(b.graph.opsets.get(""), 21);
    assert.equal(b.graph.nodes[0].inputs.length, 2);
    assert.equal(b.graph.nodes[0].attrs.axes, undefined);
    const upgraded = await createSession(b.graph);
    assert.deepEqual(Array.from((await runSession(upgraded, feeds)).m.data as Float32Array), expected);
    await upgraded.release();
    const old = new Graph();
    old.opsets.set("", 11);
    assert.throws(() => upgradeOpset(old, 18), /opset 11/);
  });

  it("refuses external data that leaves the model folder", async () => {
    const model = {
      graph: {
        initializer: [
          {
            name: "w",
            dataType: DataType.FLOAT,
            dims: [1],
            dataLocation: 1,
            externalData: [{ key: "location", value: "../../etc/passwd" }],
          },
        ],
      },
    } as unknown as ModelProto;
    await assert.rejects(inlineExternalData(model, "/tmp/m/model.onnx"), /leaves the model folder/);
  });
});
