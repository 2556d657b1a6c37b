import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { type TempModel, tempTinyModel } from "../diffusion/testing/fixtures.js";
import { DATASET_BUDGET, datasetBudget, fineTune } from "./index.js";
import { tinyImageSet } from "./test-fixtures.js";

describe("dataset-sized DreamBooth budgets", () => {
  it("gives the documented steps, rates and ranks (docs/methods.md#dataset-sized-recipes)", () => {
    // textures at 5 shots: 8 classes × 5 images, 400 passes at batch 16 → 1000 steps.
    const full = datasetBudget("full-unet", { classes: 8, imagesPerClass: 5 });
    assert.equal(full.steps, 1000);
    assert.equal(full.learningRate, DATASET_BUDGET["full-unet"].learningRate);
    assert.equal(full.batchSize, 16);
    assert.equal(full.rank, undefined);
    assert.equal(datasetBudget("full-unet", { classes: 8, imagesPerClass: 10 }).steps, 2000);
    assert.equal(datasetBudget("full-unet", { classes: 2, imagesPerClass: 5 }).steps, 250);
    assert.equal(datasetBudget("full-unet", { classes: 1, imagesPerClass: 2 }).steps, 250, "floor");
    assert.equal(datasetBudget("full-unet", { classes: 8, imagesPerClass: 5 }, 32).steps, 500, "batch 32");
    assert.equal(datasetBudget("full-unet", { classes: 100, imagesPerClass: 10 }).steps, 3000, "cap");

    const lora = datasetBudget("lora", { classes: 8, imagesPerClass: 5 });
    assert.equal(lora.steps, 1000);
    assert.equal(lora.learningRate, DATASET_BUDGET.lora.learningRate);
    assert.equal(lora.rank, 64);
    assert.equal(datasetBudget("lora", { classes: 2, imagesPerClass: 5 }).rank, 16);
    assert.equal(datasetBudget("lora", { classes: 1, imagesPerClass: 5 }).rank, 8);
    assert.equal(datasetBudget("lora", { classes: 20, imagesPerClass: 5 }).rank, 64);
  });

  it("refuses a dataset that is not a positive count of classes and images", () => {
    assert.throws(() => datasetBudget("full-unet", { classes: 0, imagesPerClass: 5 }), RangeError);
    assert.throws(() => datasetBudget("lora", { classes: 2, imagesPerClass: 1.5 }), RangeError);
  });

  const temps: TempModel[] = [];
  after(async () => {
    for (const t of temps) await t.remove();
  });

  it("the full-UNet recipe's settings lower the held-out loss on a tiny model", async (t) => {
    const model = await tempTinyModel({ layout: "legacy" });
    temps.push(model);
    const images = tinyImageSet();
    const budget = datasetBudget("full-unet", { classes: 2, imagesPerClass: 4 });
    // The recipe's rate, warmup, clipping and schedule; fewer steps and a smaller batch keep the test fast.
    const result = await fineTune({
      modelDir: model.dir,
      method: "full-unet",
      images,
      resolution: 32,
      templates: ["a photo of a {}"],
      settings: { ...budget, steps: 60, batchSize: 4 },
      evalBatches: 6,
      worker: false,
      threads: 1,
    });
    const [report] = result.stages;
    t.diagnostic(`held-out loss ${report.evalLossBefore?.toFixed(5)} → ${report.evalLossAfter?.toFixed(5)}`);
    assert.ok((report.evalLossAfter as number) < (report.evalLossBefore as number));
    assert.equal(report.totalSteps, 60);
  });
});
