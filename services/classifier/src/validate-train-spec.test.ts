import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import {
  type Optimizer,
  TraditionalAugmentation,
  TrainSpecSchema,
  UtilizationMode,
} from "../../../shared/gen/diffda/classifier/v1/classifier_pb.js";
import { GrpcCode, RpcError } from "../../../shared/rpc/index.js";
import type { ClassifierLimits } from "./config.js";
import { validateTrainSpec } from "./train-spec.js";

const LIMITS: ClassifierLimits = { maxImages: 1000, maxImageSize: 256, maxEpochs: 1000, defaultEpochs: 30 };

/** The init form of a TrainSpec (not a created message), so that fields can be spread. */
type SpecInit = Extract<MessageInitShape<typeof TrainSpecSchema>, { $typeName?: undefined }>;

/** A valid REAL_ONLY spec for two classes, with `over` applied on top. */
function spec(over: Partial<SpecInit> = {}) {
  return create(TrainSpecSchema, {
    jobId: "job-1",
    architecture: "resnet-mini",
    classes: [{ name: "a" }, { name: "b" }],
    utilization: { mode: UtilizationMode.REAL_ONLY },
    traditionalAugmentation: TraditionalAugmentation.NONE,
    ...over,
  });
}

/** validateTrainSpec must reject `s` with INVALID_ARGUMENT naming `field`. */
function rejects(s: ReturnType<typeof spec> | undefined, field: string): void {
  assert.throws(
    () => validateTrainSpec(s, LIMITS),
    (error: unknown) => {
      assert.ok(error instanceof RpcError, String(error));
      assert.equal(error.code, "invalid_field");
      assert.equal(error.grpcCode, GrpcCode.INVALID_ARGUMENT);
      assert.equal(error.details.field, field, error.message);
      return true;
    },
  );
}

describe("validateTrainSpec: bad requests are INVALID_ARGUMENT naming the field", () => {
  it("accepts the valid spec", () => {
    const plan = validateTrainSpec(spec(), LIMITS);
    assert.deepEqual(plan.classNames, ["a", "b"]);
  });

  it("a missing spec, an overlong job id, an unknown network", () => {
    rejects(undefined, "spec");
    rejects(spec({ jobId: "x".repeat(257) }), "spec.job_id");
    rejects(spec({ architecture: "" }), "spec.architecture");
    rejects(spec({ architecture: "vgg-zillion" }), "spec.architecture");
  });

  it("no classes, a nameless class, an image size past the limit", () => {
    rejects(spec({ classes: [] }), "spec.classes");
    rejects(spec({ classes: [{ name: "" }] }), "spec.classes[0].name");
    rejects(spec({ imageSize: 4 }), "spec.image_size");
    rejects(spec({ imageSize: LIMITS.maxImageSize + 1 }), "spec.image_size");
  });

  it("utilization: missing, an unknown mode, out-of-range probability, gamma and ratio", () => {
    rejects(spec({ utilization: undefined }), "spec.utilization");
    rejects(spec({ utilization: { mode: 99 as UtilizationMode } }), "spec.utilization.mode");
    const u = (over: NonNullable<SpecInit["utilization"]>) =>
      spec({ utilization: { mode: UtilizationMode.REAL_ONLY, ...over } });
    rejects(u({ replaceProbability: 1.5 }), "spec.utilization.replace_probability");
    rejects(u({ softLabelGamma: 0 }), "spec.utilization.soft_label_gamma");
    rejects(u({ syntheticPerReal: 0 }), "spec.utilization.synthetic_per_real");
  });

  it("an unknown augmentation and hyperparameters out of their bounds", () => {
    rejects(
      spec({ traditionalAugmentation: 99 as TraditionalAugmentation }),
      "spec.traditional_augmentation",
    );
    const h = (hyperparameters: SpecInit["hyperparameters"]) => spec({ hyperparameters });
    rejects(h({ epochs: LIMITS.maxEpochs + 1 }), "spec.hyperparameters.epochs");
    rejects(h({ batchSize: 0 }), "spec.hyperparameters.batch_size");
    rejects(h({ maxSteps: 0 }), "spec.hyperparameters.max_steps");
    rejects(h({ learningRate: 0 }), "spec.hyperparameters.learning_rate");
    rejects(h({ weightDecay: 2 }), "spec.hyperparameters.weight_decay");
    rejects(h({ labelSmoothing: 1 }), "spec.hyperparameters.label_smoothing");
    rejects(h({ mixAlpha: -1 }), "spec.hyperparameters.mix_alpha");
    rejects(h({ mixProbability: 1.1 }), "spec.hyperparameters.mix_probability");
    rejects(h({ optimizer: 99 as Optimizer }), "spec.hyperparameters.optimizer");
  });
});
