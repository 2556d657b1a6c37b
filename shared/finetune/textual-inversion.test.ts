import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { knownWordIds, loadClipTokenizer } from "../diffusion/index.js";
import { type TempModel, tempTinyModel } from "../diffusion/testing/fixtures.js";
import { KIT_MODEL_DIR } from "../kit/index.js";
import {
  findTokenTable,
  fineTune,
  loadTrainingInputs,
  textualInversionStage,
  tokenInitializers,
  withBatchSize,
} from "./index.js";
import { tinyImageSet } from "./test-fixtures.js";

describe("the starting word of each class's token", () => {
  it("is the class's words where the kit's tokenizer knows them all, else the generic word", async () => {
    const kit = await loadClipTokenizer(`${KIT_MODEL_DIR}/tokenizer`);
    const names = ["t-shirt", "trousers", "T-shirt/top", "trouser", "sandal", "ankle boot"];
    assert.deepEqual(tokenInitializers(kit, names, undefined, "the"), [
      { word: "t-shirt", source: "class" },
      { word: "trousers", source: "class" },
      // "top" and "trouser" are no caption words: BPE spells them in fragments.
      { word: "the", source: "default" },
      { word: "the", source: "default" },
      // Held out of every caption (shared/kit HELD_OUT_CLASSES): byte symbols only.
      { word: "the", source: "default" },
      { word: "ankle boot", source: "class" },
    ]);
    assert.deepEqual(knownWordIds(kit, "ankle boot")?.length, 2);
    assert.equal(knownWordIds(kit, "sandal"), undefined);
    assert.equal(knownWordIds(kit, "  "), undefined);
  });

  it("is the request's word when it gives one, for every class", async () => {
    const kit = await loadClipTokenizer(`${KIT_MODEL_DIR}/tokenizer`);
    assert.deepEqual(tokenInitializers(kit, ["t-shirt", "sandal"], "cat", "the"), [
      { word: "cat", source: "request" },
      { word: "cat", source: "request" },
    ]);
    assert.deepEqual(
      tokenInitializers(kit, ["t-shirt", "sandal"], ["coat", "dress"], "the").map((i) => i.word),
      ["coat", "dress"],
    );
    assert.throws(() => tokenInitializers(kit, ["t-shirt", "sandal"], ["coat"], "the"), RangeError);
  });
});

describe("textual inversion started from class names", () => {
  const temps: TempModel[] = [];
  after(async () => {
    for (const t of temps) await t.remove();
  });
  // The tiny model's tokenizer knows "cat" but not "zebra".
  const images = { ...tinyImageSet(), classNames: ["cat", "zebra"] };

  it("starts a known class's row at its word's embedding and reports each class's start", async () => {
    const model = await tempTinyModel({ layout: "optimum" });
    temps.push(model);
    const { inputs } = await loadTrainingInputs({ modelDir: model.dir, images, resolution: 32, flip: false });
    const inits = tokenInitializers(inputs.tokenizer, images.classNames, undefined, "the");
    assert.deepEqual(inits, [
      { word: "cat", source: "class" },
      { word: "the", source: "default" },
    ]);
    const stage = textualInversionStage(
      withBatchSize(inputs, 4),
      ["<c0>", "<c1>"],
      inits.map((i) => i.word),
    );
    const table = findTokenTable(stage.training.graph, stage.training.ids.name);
    const t = stage.training.graph.initializers.get(table);
    assert.ok(t);
    const [rows, dim] = t.dims;
    const data = t.data as Float32Array;
    const row = (r: number) => Array.from(data.subarray(r * dim, (r + 1) * dim));
    const [cat] = inputs.tokenizer.tokenIds("cat");
    const [the] = inputs.tokenizer.tokenIds("the");
    assert.deepEqual(row(rows - 2), row(cat));
    assert.deepEqual(row(rows - 1), row(the));
    assert.notDeepEqual(row(cat), row(the));

    const result = await fineTune({
      modelDir: model.dir,
      method: "textual-inversion",
      images,
      tokens: ["<c0>", "<c1>"],
      templates: ["a photo of a {}"],
      settings: { steps: 2, batchSize: 4 },
      resolution: 32,
      worker: false,
      threads: 1,
    });
    assert.deepEqual(result.tokenInitializers, inits);
    const asked = await fineTune({
      modelDir: model.dir,
      method: "textual-inversion",
      images,
      tokens: ["<c0>", "<c1>"],
      initializerWords: "dog",
      templates: ["a photo of a {}"],
      settings: { steps: 1, batchSize: 4 },
      resolution: 32,
      worker: false,
      threads: 1,
    });
    assert.deepEqual(
      asked.tokenInitializers?.map((i) => `${i.word}:${i.source}`),
      ["dog:request", "dog:request"],
    );
  });
});
