import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import {
  type LoraLayer,
  loadLoraFile,
  loadTextualInversionFile,
  type TextualInversion,
  withAdapters,
} from "../diffusion/adapters/index.js";
import { type DiffusionModel, loadDiffusionModel } from "../diffusion/models/index.js";
import { encodePrompts, textToImage } from "../diffusion/pipelines/index.js";
import { maxAbsDiff, type TempModel, tempTinyModel } from "../diffusion/testing/fixtures.js";
import type { TinyLayout, TinyParts } from "../diffusion/testing/tiny-folder.js";
import { DataType } from "../ml/onnx/index.js";
import {
  composeTrainingGraph,
  evaluateLoss,
  fineTune,
  loadTrainingInputs,
  OUTPUT_FILES,
  type StageGraph,
  saveFineTuneResult,
  settingsFor,
  stagePlan,
} from "./index.js";
import { tinyImageSet } from "./test-fixtures.js";

const RUN = { worker: false, threads: 1 } as const;
const TEMPLATES = ["a photo of a {}", "a {}"];

/** W += alpha/rank · up·down, in the weight's own layout, from the fixture's weight map (not the adapters code). */
function mergeByHand(parts: TinyParts, layer: LoraLayer): void {
  const component = layer.component === "unet" ? parts.unet : parts.textEncoder;
  const info = component.weights.get(layer.name);
  assert.ok(info, `fixture has no ${layer.name}`);
  const tensor = component.graph.initializers.get(info.initializer);
  assert.ok(tensor && tensor.dtype === DataType.FLOAT);
  const [rank, inner] = layer.down.dims;
  const out = layer.up.dims[0];
  const scale = (layer.alpha ?? rank) / rank;
  const w = Float32Array.from(tensor.data as Float32Array);
  const up = layer.up.data as Float32Array;
  const down = layer.down.data as Float32Array;
  for (let o = 0; o < out; o++) {
    for (let i = 0; i < inner; i++) {
      let d = 0;
      for (let r = 0; r < rank; r++) d += up[o * rank + r] * down[r * inner + i];
      w[info.layout === "in_out" ? i * out + o : o * inner + i] += scale * d;
    }
  }
  component.graph.initializers.set(info.initializer, { ...tensor, data: w });
}

/** The token table grown by the concepts' vectors, by hand. */
function growTable(parts: TinyParts, concepts: readonly TextualInversion[]): void {
  const graph = parts.textEncoder.graph;
  const name = "text_model.embeddings.token_embedding.weight";
  const table = graph.initializers.get(name);
  assert.ok(table);
  const [rows, dim] = table.dims;
  const grown = new Float32Array((rows + concepts.length) * dim);
  grown.set(table.data as Float32Array);
  concepts.forEach((c, k) => {
    grown.set(c.vectors, (rows + k) * dim);
  });
  graph.initializers.set(name, { dtype: table.dtype, dims: [rows + concepts.length, dim], data: grown });
}

describe("adapters written by diffda load back through shared/diffusion/adapters", () => {
  const temps: TempModel[] = [];
  const models: DiffusionModel[] = [];
  const dirs: string[] = [];
  after(async () => {
    for (const m of models.reverse()) await m.release();
    for (const t of temps) await t.remove();
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });
  const track = (m: DiffusionModel) => {
    models.push(m);
    return m;
  };
  const images = tinyImageSet();
  const size = (layout: TinyLayout) => (layout === "legacy" ? 64 : 32);

  it("TI+LoRA (PEFT and kohya keys, alpha ≠ rank) changes generation exactly as merging by hand", async (t) => {
    const layout = "legacy";
    const base = await tempTinyModel({ layout });
    temps.push(base);
    const common = { modelDir: base.dir, images, resolution: 32, templates: TEMPLATES, seed: 4 };
    const result = await fineTune({
      ...RUN,
      ...common,
      method: "ti-lora",
      tiSettings: { steps: 10, batchSize: 4, learningRate: 5e-2 },
      settings: { steps: 15, batchSize: 4, learningRate: 1e-2 },
      rank: 4,
      alpha: 8,
      evalBatches: 4,
    });
    assert.deepEqual(
      result.stages.map((s) => [s.stage, s.losses.length]),
      [
        ["textual-inversion", 10],
        ["lora", 15],
      ],
    );
    const out = await mkdtemp(join(tmpdir(), "diffda-ft-out-"));
    dirs.push(out);
    const written = await saveFineTuneResult(result, out, { loraFormats: ["peft", "kohya"] });
    assert.deepEqual(
      written.map((p) => p.slice(out.length + 1)),
      [OUTPUT_FILES.textualInversion, OUTPUT_FILES.lora, OUTPUT_FILES.loraKohya],
    );
    const concepts = await loadTextualInversionFile(join(out, OUTPUT_FILES.textualInversion));
    assert.deepEqual(
      concepts.map((c) => c.token),
      ["<class-0>", "<class-1>"],
    );
    const peft = await loadLoraFile(join(out, OUTPUT_FILES.lora));
    const kohya = await loadLoraFile(join(out, OUTPUT_FILES.loraKohya));
    const model = track(await loadDiffusionModel(base.dir));
    const adaptedPeft = track(await withAdapters(model, { loras: [peft], textualInversions: concepts }));
    const adaptedKohya = track(await withAdapters(model, { loras: [kohya], textualInversions: concepts }));
    const handFolder = await tempTinyModel({ layout }, (parts) => {
      for (const layer of result.lora ?? []) mergeByHand(parts, layer);
      growTable(parts, result.concepts ?? []);
    });
    temps.push(handFolder);
    const handBase = track(await loadDiffusionModel(handFolder.dir));
    const hand = handBase.derive(
      { tokenizer: handBase.tokenizer.withAddedTokens(["<class-0>", "<class-1>"]).tokenizer },
      [],
    );

    const request = [{ prompt: "a photo of a <class-1>", seed: 9, index: 0 }];
    const options = { steps: 5, height: size(layout), width: size(layout) };
    const [p, k, h, b] = await Promise.all(
      [adaptedPeft, adaptedKohya, hand, model].map(
        async (m) => (await textToImage(m, request, options))[0].image.data,
      ),
    );
    t.diagnostic(
      `|PEFT-loaded − hand-merged| ${maxAbsDiff(p, h).toExponential(2)}, |kohya − PEFT| ${maxAbsDiff(k, p).toExponential(2)}, vs base ${maxAbsDiff(p, b).toExponential(2)}`,
    );
    assert.ok(maxAbsDiff(p, h) <= 1e-5);
    assert.ok(maxAbsDiff(k, p) <= 1e-6);
    assert.ok(maxAbsDiff(p, b) > 1e-3, "the adapters change the image");

    // The trained graph (x·W + s·x·A·B, learned rows) computes what the merged model computes.
    const handInputs = await loadTrainingInputs({ ...common, modelDir: handFolder.dir, flip: false });
    const settings = settingsFor("lora", { batchSize: 4 });
    const training = composeTrainingGraph(handInputs.inputs.textEncoder, handInputs.inputs.unet, {
      ...handInputs.inputs.shape,
      batch: 4,
    });
    const stage: StageGraph = {
      name: "lora",
      training,
      trainable: [],
      tokenizer: hand.tokenizer,
      classWords: ["<class-0>", "<class-1>"],
      collect: () => ({}),
    };
    const merged = await evaluateLoss(stage, stagePlan(handInputs.plan, stage, settings), 4, undefined, {
      threads: 1,
    });
    const trained = result.stages[1].evalLossAfter as number;
    t.diagnostic(
      `held-out loss: trained graph ${trained.toFixed(7)}, hand-merged model ${merged.toFixed(7)}`,
    );
    assert.ok(Math.abs(merged - trained) <= 1e-5 * merged);
  });

  it("text-encoder LoRA with kohya keys (lora_te_…) conditions exactly as merging by hand", async (t) => {
    const layout = "optimum";
    const base = await tempTinyModel({ layout });
    temps.push(base);
    const result = await fineTune({
      ...RUN,
      modelDir: base.dir,
      method: "text-encoder-lora",
      images,
      resolution: 32,
      templates: TEMPLATES,
      settings: { steps: 10, batchSize: 4, learningRate: 1e-2 },
      rank: 2,
    });
    const out = await mkdtemp(join(tmpdir(), "diffda-ft-out-"));
    dirs.push(out);
    await saveFineTuneResult(result, out, { loraFormats: ["kohya"] });
    const lora = await loadLoraFile(join(out, OUTPUT_FILES.loraKohya));
    assert.ok(lora.layers.every((l) => l.component === "text_encoder" && l.flattened));
    const model = track(await loadDiffusionModel(base.dir));
    const adapted = track(await withAdapters(model, { loras: [lora] }));
    assert.equal(adapted.unet, model.unet, "the UNet is shared");
    const handFolder = await tempTinyModel({ layout }, (parts) => {
      for (const layer of result.lora ?? []) mergeByHand(parts, layer);
    });
    temps.push(handFolder);
    const hand = track(await loadDiffusionModel(handFolder.dir));
    const [a, h, b] = await Promise.all(
      [adapted, hand, model].map((m) => encodePrompts(m, ["a photo of a dog"])),
    );
    t.diagnostic(`|loaded − hand-merged| text states ${maxAbsDiff(a.data, h.data).toExponential(2)}`);
    assert.ok(maxAbsDiff(a.data, h.data) <= 1e-5);
    assert.ok(maxAbsDiff(a.data, b.data) > 1e-4, "the LoRA changes the conditioning");
    const request = [{ prompt: "a photo of a dog", seed: 2, index: 0 }];
    const options = { steps: 4, height: size(layout), width: size(layout) };
    const [ia, ih] = await Promise.all(
      [adapted, hand].map(async (m) => (await textToImage(m, request, options))[0].image.data),
    );
    assert.ok(maxAbsDiff(ia, ih) <= 1e-5);
  });
});
