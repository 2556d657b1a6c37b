import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import {
  TraditionalAugmentation,
  type TrainHyperparametersSchema,
  TrainSpecSchema,
  UtilizationMode,
} from "../../../shared/gen/diffda/classifier/v1/classifier_pb.js";
import type { ClassifierLimits } from "./config.js";
import { resolveHyperparameters, validateTrainSpec } from "./train-spec.js";

const LIMITS: ClassifierLimits = { maxImages: 1000, maxImageSize: 256, maxEpochs: 1000, defaultEpochs: 30 };

/** A REAL_ONLY (or `mode`) plan with these hyperparameters. */
function plan(
  hyperparameters: MessageInitShape<typeof TrainHyperparametersSchema>,
  mode = UtilizationMode.REAL_ONLY,
) {
  const spec = create(TrainSpecSchema, {
    jobId: "j",
    architecture: "resnet-mini",
    classes: [{ name: "a" }, { name: "b" }],
    utilization: { mode },
    traditionalAugmentation: TraditionalAugmentation.NONE,
    hyperparameters,
  });
  return validateTrainSpec(spec, LIMITS);
}

describe("resolveHyperparameters", () => {
  it("sizes unset batch size and epochs to the set: batch 4 and 50 epochs for 25 real images", () => {
    const h = resolveHyperparameters(plan({}), 25, 0, LIMITS);
    assert.deepEqual([h.batchSize, h.epochs], [4, 50]);
    assert.equal(h.optimizer, "sgd", "the other defaults stay");
  });

  it("takes as many epochs as a step budget needs, whatever an epoch holds", () => {
    // 50 real + 100 synthetic concatenated at batch 8: 18 steps an epoch, 10 epochs for 180 steps.
    const fc = resolveHyperparameters(
      plan({ batchSize: 8, maxSteps: 180 }, UtilizationMode.FULL_CONCATENATION),
      50,
      100,
      LIMITS,
    );
    assert.deepEqual([fc.batchSize, fc.epochs, fc.maxSteps], [8, 10, 180]);
    const real = resolveHyperparameters(plan({ batchSize: 8, maxSteps: 180 }), 50, 0, LIMITS);
    assert.deepEqual([real.epochs, real.maxSteps], [30, 180]);
    assert.throws(() => plan({ maxSteps: 0 }), /max_steps/);
  });

  it("keeps what the request set, sizing only the rest", () => {
    const both = resolveHyperparameters(plan({ batchSize: 128, epochs: 3 }), 25, 0, LIMITS);
    assert.deepEqual([both.batchSize, both.epochs], [128, 3]);
    const epochs = resolveHyperparameters(plan({ epochs: 3 }), 25, 0, LIMITS);
    assert.deepEqual([epochs.batchSize, epochs.epochs], [4, 3]);
    // 6 steps an epoch of 4 images: 50 epochs reach 300 steps.
    const batch = resolveHyperparameters(plan({ batchSize: 4 }), 25, 0, LIMITS);
    assert.deepEqual([batch.batchSize, batch.epochs], [4, 50]);
  });

  it("counts the images an epoch trains on by utilization", () => {
    // FC: 25 real + 1000 synthetic = 1025 images, batch 128; FR: the 1000 synthetic ones, batch 64.
    const fc = resolveHyperparameters(plan({}, UtilizationMode.FULL_CONCATENATION), 25, 1000, LIMITS);
    assert.deepEqual([fc.batchSize, fc.epochs], [128, 38]);
    const fr = resolveHyperparameters(plan({}, UtilizationMode.FULL_REPLACEMENT), 25, 1000, LIMITS);
    assert.deepEqual([fr.batchSize, fr.epochs], [64, 30]);
    const grr = resolveHyperparameters(plan({}, UtilizationMode.GLOBAL_RANDOM_REPLACEMENT), 25, 1000, LIMITS);
    assert.deepEqual([grr.batchSize, grr.epochs], [4, 50]);
  });

  it("stays within the service's epoch limits", () => {
    const capped = resolveHyperparameters(plan({}), 25, 0, { ...LIMITS, maxEpochs: 40 });
    assert.equal(capped.epochs, 40);
    const floor = resolveHyperparameters(plan({}), 25, 0, { ...LIMITS, defaultEpochs: 80 });
    assert.equal(floor.epochs, 80);
  });
});

describe("validateTrainSpec: backbone", () => {
  const spec = (fields: { architecture?: string; backbone?: string; imageSize?: number }) =>
    create(TrainSpecSchema, {
      jobId: "j",
      architecture: fields.architecture ?? "resnet8",
      backbone: fields.backbone,
      imageSize: fields.imageSize,
      classes: [{ name: "a" }, { name: "b" }],
      utilization: { mode: UtilizationMode.REAL_ONLY },
      traditionalAugmentation: TraditionalAugmentation.NONE,
    });

  it("starts from scratch when unset, and takes a registry backbone of its network", () => {
    assert.equal(validateTrainSpec(spec({}), LIMITS).backbone, "scratch");
    assert.equal(
      validateTrainSpec(spec({ backbone: "scratch", architecture: "resnet20" }), LIMITS).backbone,
      "scratch",
    );
    assert.equal(
      validateTrainSpec(spec({ backbone: "tinted-digits-resnet8" }), LIMITS).backbone,
      "tinted-digits-resnet8",
    );
  });

  it("refuses an unknown backbone, one of another network and one for inputs over 64 px, naming the field", () => {
    const invalid = (fields: Parameters<typeof spec>[0], message: RegExp) =>
      assert.throws(
        () => validateTrainSpec(spec(fields), LIMITS),
        (error: Error & { field?: string }) => {
          assert.match(error.message, message);
          assert.match(error.message, /spec\.backbone/);
          return true;
        },
      );
    invalid({ backbone: "imagenet-resnet50" }, /unknown backbone "imagenet-resnet50"/);
    invalid({ backbone: "tinted-digits-resnet8", architecture: "resnet20" }, /resnet8 weights, not resnet20/);
    invalid({ backbone: "tinted-digits-resnet8", imageSize: 128 }, /at most 64 px/);
  });
});
