import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { type TempModel, tempTinyModel } from "../diffusion/testing/fixtures.js";
import type { TinyOptions } from "../diffusion/testing/tiny-folder.js";
import { rowsParamName } from "../ml/autodiff/index.js";
import {
  evaluateLoss,
  findTokenTable,
  fineTune,
  fullUnetStage,
  loadTrainingInputs,
  loraStage,
  runStage,
  settingsFor,
  stagePlan,
  TEXT_ENCODER_PREFIX,
  textualInversionStage,
  UNET_LORA_TARGETS,
  withBatchSize,
  writeFineTunedModel,
} from "./index.js";
import { sameBits, sha256, tinyImageSet } from "./test-fixtures.js";

const RUN = { worker: false, threads: 1 } as const;
const TEMPLATES = ["a photo of a {}", "a {}"];

describe("fine-tuning methods on tiny model folders", () => {
  const temps: TempModel[] = [];
  const cleanup: (() => Promise<void>)[] = [];
  after(async () => {
    for (const t of temps) await t.remove();
    for (const c of cleanup) await c();
  });
  const temp = async (options: TinyOptions) => {
    const t = await tempTinyModel(options);
    temps.push(t);
    return t;
  };
  const images = tinyImageSet();

  for (const layout of ["legacy", "optimum"] as const) {
    it(`textual inversion (${layout}) lowers the loss and changes only the new rows`, async (t) => {
      const model = await temp({ layout });
      const { inputs, plan } = await loadTrainingInputs({
        modelDir: model.dir,
        images,
        resolution: 32,
        flip: true,
        templates: TEMPLATES,
      });
      const settings = settingsFor("textual-inversion", { steps: 40, batchSize: 4, learningRate: 5e-2 });
      const stage = textualInversionStage(withBatchSize(inputs, 4), ["<cat-0>", "<dog-1>"], ["cat", "dog"]);
      const result = await runStage(stage, stagePlan({ ...plan }, stage, settings), settings, {
        ...RUN,
        evalBatches: 6,
      });
      const { evalLossBefore: before, evalLossAfter: afterLoss } = result.report;
      t.diagnostic(`${layout}: held-out loss ${before?.toFixed(5)} → ${afterLoss?.toFixed(5)}`);
      assert.ok(before !== undefined && afterLoss !== undefined && afterLoss < before);

      const table = findTokenTable(stage.training.graph, stage.training.ids.name);
      const original = inputs.textEncoder.graph.initializers.get(table.slice(TEXT_ENCODER_PREFIX.length));
      const trained = result.parameters.get(table);
      assert.ok(original && trained);
      const [rows, dim] = original.dims;
      assert.deepEqual(trained.dims, [rows + 2, dim]);
      assert.ok(
        sameBits(trained.data.subarray(0, rows * dim) as Float32Array, original.data as Float32Array),
        "every base row is bit-identical",
      );
      const initial = stage.training.graph.initializers.get(table);
      assert.ok(initial);
      for (let k = 0; k < 2; k++) {
        const row = (x: ArrayLike<number>) => Array.from(x).slice((rows + k) * dim, (rows + k + 1) * dim);
        assert.notDeepEqual(
          row(trained.data as Float32Array),
          row(initial.data as Float32Array),
          `row ${k} moved`,
        );
      }
      for (const [name, value] of result.parameters) {
        if (name === table || name === rowsParamName(table, rows, rows + 2)) continue;
        const base = stage.training.graph.initializers.get(name);
        assert.ok(
          base && sameBits(value.data as Float32Array, base.data as Float32Array),
          `${name} untouched`,
        );
      }
      assert.deepEqual(
        result.output.concepts?.map((c) => [c.token, c.count, c.dim]),
        [
          ["<cat-0>", 1, dim],
          ["<dog-1>", 1, dim],
        ],
      );
    });
  }

  it("TI+LoRA lowers the loss and leaves every base weight and file untouched", async (t) => {
    const model = await temp({ layout: "optimum" });
    const files = ["unet/model.onnx", "unet/model.onnx_data", "text_encoder/model.onnx"].map((f) =>
      join(model.dir, f),
    );
    const hashes = await Promise.all(files.map(sha256));
    const { inputs, plan } = await loadTrainingInputs({
      modelDir: model.dir,
      images,
      resolution: 32,
      flip: false,
      templates: TEMPLATES,
    });
    const concepts = ["<a>", "<b>"].map((token, k) => ({
      token,
      vectors: Float32Array.from({ length: 16 }, (_, i) => Math.sin(i + 3 * k)),
      count: 1,
      dim: 16,
    }));
    const settings = settingsFor("lora", { steps: 30, batchSize: 4, learningRate: 1e-2 });
    const stage = loraStage(
      withBatchSize(inputs, 4),
      "unet",
      UNET_LORA_TARGETS,
      { rank: 4, alpha: 4, seed: 1 },
      { concepts },
    );
    const result = await runStage(stage, stagePlan(plan, stage, settings), settings, {
      ...RUN,
      evalBatches: 6,
    });
    const { evalLossBefore: before, evalLossAfter: afterLoss } = result.report;
    t.diagnostic(`held-out loss ${before?.toFixed(5)} → ${afterLoss?.toFixed(5)}`);
    assert.ok(before !== undefined && afterLoss !== undefined && afterLoss < before);
    const lora = result.output.lora ?? [];
    assert.equal(lora.length, 8, "q, k, v, out of attn1 and attn2");
    assert.ok(lora.every((l) => l.component === "unet" && UNET_LORA_TARGETS.some((n) => l.name.endsWith(n))));
    assert.ok(lora.every((l) => l.down.dims[0] === 4 && l.up.dims[1] === 4));
    assert.ok(
      lora.some((l) => (l.up.data as Float32Array).some((v) => v !== 0)),
      "B moved off zero",
    );
    const trainable = new Set(stage.trainable as string[]);
    for (const [name, value] of result.parameters) {
      if (trainable.has(name)) continue;
      const base = stage.training.graph.initializers.get(name);
      assert.ok(base && sameBits(value.data as Float32Array, base.data as Float32Array), `${name} untouched`);
    }
    assert.deepEqual(await Promise.all(files.map(sha256)), hashes, "model files unchanged");
  });

  it("text-encoder LoRA lowers the loss (prompts with the class words)", async (t) => {
    const model = await temp({ layout: "legacy" });
    const result = await fineTune({
      ...RUN,
      modelDir: model.dir,
      method: "text-encoder-lora",
      images,
      resolution: 32,
      templates: TEMPLATES,
      settings: { steps: 30, batchSize: 4, learningRate: 1e-2 },
      rank: 4,
      evalBatches: 6,
    });
    const [report] = result.stages;
    t.diagnostic(`held-out loss ${report.evalLossBefore?.toFixed(5)} → ${report.evalLossAfter?.toFixed(5)}`);
    assert.ok((report.evalLossAfter as number) < (report.evalLossBefore as number));
    assert.deepEqual(result.classWords, ["cat", "dog"]);
    assert.deepEqual(result.lora?.map((l) => l.name.split(".").at(-1)).sort(), [
      "k_proj",
      "out_proj",
      "q_proj",
      "v_proj",
    ]);
    assert.ok(result.lora?.every((l) => l.component === "text_encoder"));
  });

  it("full UNet fine-tuning lowers the loss and writes a folder that serves the trained UNet", async (t) => {
    const model = await temp({ layout: "optimum", fp16Unet: true });
    const common = { modelDir: model.dir, images, resolution: 32, templates: TEMPLATES, seed: 3 };
    const result = await fineTune({
      ...RUN,
      ...common,
      method: "full-unet",
      settings: { steps: 30, batchSize: 4, learningRate: 2e-3 },
      evalBatches: 6,
    });
    const [report] = result.stages;
    t.diagnostic(`held-out loss ${report.evalLossBefore?.toFixed(5)} → ${report.evalLossAfter?.toFixed(5)}`);
    assert.ok((report.evalLossAfter as number) < (report.evalLossBefore as number));
    const weights = result.unetWeights;
    assert.ok(weights && weights.size > 10);
    assert.ok(
      weights.has("conv_in.weight") &&
        weights.has("down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight"),
    );

    const out = await mkdtemp(join(tmpdir(), "diffda-tuned-"));
    cleanup.push(() => rm(out, { recursive: true, force: true }));
    await writeFineTunedModel(model.dir, out, weights);
    const tuned = await loadTrainingInputs({ ...common, modelDir: out, flip: false });
    const settings = settingsFor("full-unet", { batchSize: 4 });
    const stage = fullUnetStage(withBatchSize(tuned.inputs, 4), ["cat", "dog"]);
    const written = await evaluateLoss(stage, stagePlan(tuned.plan, stage, settings), 6, undefined, {
      threads: 1,
    });
    t.diagnostic(
      `written folder ${written.toFixed(6)} vs trained graph ${report.evalLossAfter?.toFixed(6)} (fp16 storage)`,
    );
    assert.ok(Math.abs(written - (report.evalLossAfter as number)) < 2e-3 * written, "float16 rounding only");
  });
});
