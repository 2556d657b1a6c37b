import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { datasetBudget, METHOD_DEFAULTS } from "../../../shared/finetune/index.js";
import { FinetuneMethod, FinetuneSpecSchema } from "../../../shared/gen/diffda/finetune/v1/finetune_pb.js";
import type { ModelRegistry } from "../../../shared/service/index.js";
import { validateFinetuneSpec, withDatasetBudget } from "./spec.js";

const KIT = { id: "kit", dir: "/models/kit" };
const registry: ModelRegistry = {
  models: [KIT],
  resolve: () => KIT,
  get: () => KIT,
};
const LIMITS = { maxImages: 10_000, maxSteps: 5000, maxResolution: 512 };
const classes = Array.from({ length: 8 }, (_, k) => ({ name: `class-${k}` }));

function fullUnetSpec(fullUnet?: { maxTrainSteps?: number; learningRate?: number }) {
  return create(FinetuneSpecSchema, {
    jobId: "job",
    baseModel: { name: "kit" },
    method: FinetuneMethod.FULL_UNET,
    classes,
    hyperparameters: fullUnet ? { fullUnet } : undefined,
  });
}

describe("full-UNet plans sized to the dataset", () => {
  it("fills the unset steps and rate from datasetBudget once the image count is known", () => {
    const plan = validateFinetuneSpec(fullUnetSpec(), registry, LIMITS);
    assert.deepEqual(plan.sizeToDataset, { steps: true, learningRate: true });
    const sized = withDatasetBudget(plan, 40, LIMITS).settings;
    const budget = datasetBudget("full-unet", { classes: 8, imagesPerClass: 5 });
    assert.equal(sized.steps, budget.steps);
    assert.equal(sized.learningRate, budget.learningRate);
    assert.equal(sized.warmupSteps, budget.warmupSteps);
    assert.notEqual(sized.steps, METHOD_DEFAULTS["full-unet"].steps);
    // 10 images per class: twice the images, twice the steps.
    assert.equal(withDatasetBudget(plan, 80, LIMITS).settings.steps, 2 * budget.steps);
  });

  it("keeps what the spec sets and stays within the service's step limit", () => {
    const given = validateFinetuneSpec(
      fullUnetSpec({ maxTrainSteps: 7, learningRate: 3e-3 }),
      registry,
      LIMITS,
    );
    const kept = withDatasetBudget(given, 40, LIMITS).settings;
    assert.equal(kept.steps, 7);
    assert.equal(kept.learningRate, 3e-3);
    const onlyRate = validateFinetuneSpec(fullUnetSpec({ learningRate: 3e-3 }), registry, LIMITS);
    const limited = withDatasetBudget(onlyRate, 40_000, { ...LIMITS, maxSteps: 600 }).settings;
    assert.equal(limited.steps, 600);
    assert.equal(limited.learningRate, 3e-3);
  });

  it("leaves other methods' plans as they are", () => {
    const spec = create(FinetuneSpecSchema, {
      jobId: "job",
      baseModel: { name: "kit" },
      method: FinetuneMethod.TEXT_ENCODER_LORA,
      classes,
    });
    const plan = validateFinetuneSpec(spec, registry, LIMITS);
    assert.equal(plan.sizeToDataset, undefined);
    assert.equal(withDatasetBudget(plan, 40, LIMITS), plan);
  });
});
