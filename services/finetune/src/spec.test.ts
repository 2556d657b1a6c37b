import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { METHOD_DEFAULTS } from "../../../shared/finetune/index.js";
import { FinetuneMethod, FinetuneSpecSchema } from "../../../shared/gen/diffda/finetune/v1/finetune_pb.js";
import { GrpcCode, RpcError } from "../../../shared/rpc/index.js";
import type { ModelEntry, ModelRegistry } from "../../../shared/service/index.js";
import { invalidField } from "../../../shared/service/wire/index.js";
import type { FinetuneLimits } from "./config.js";
import { validateFinetuneSpec } from "./spec.js";

const LIMITS: FinetuneLimits = { maxImages: 100, maxSteps: 5000, maxResolution: 64 };

/** A registry serving one model, "kit"; any other name is not served. */
const KIT: ModelEntry = { id: "kit", dir: "/models/kit" };
const REGISTRY: ModelRegistry = {
  models: [KIT],
  resolve(name, field) {
    if (!name) throw invalidField(field, "required");
    if (name !== KIT.id) throw new RpcError("model_not_found", `no model "${name}"`);
    return KIT;
  },
  get: (id) => (id === KIT.id ? KIT : undefined),
};

/** The init form of a FinetuneSpec (not a created message), so that fields can be spread. */
type SpecInit = Extract<MessageInitShape<typeof FinetuneSpecSchema>, { $typeName?: undefined }>;

/** A valid TI+LoRA spec for two classes, with `over` applied on top. */
function spec(over: Partial<SpecInit> = {}) {
  return create(FinetuneSpecSchema, {
    jobId: "job-1",
    baseModel: { name: "kit" },
    method: FinetuneMethod.TI_LORA,
    classes: [
      { name: "sandal", token: "<sandal>" },
      { name: "bag", token: "<bag>" },
    ],
    ...over,
  });
}

/** validateFinetuneSpec must reject `s` with INVALID_ARGUMENT naming `field`. */
function rejects(s: ReturnType<typeof spec> | undefined, field: string): void {
  assert.throws(
    () => validateFinetuneSpec(s, REGISTRY, LIMITS),
    (error: unknown) => {
      assert.ok(error instanceof RpcError, String(error));
      assert.equal(error.code, "invalid_field");
      assert.equal(error.grpcCode, GrpcCode.INVALID_ARGUMENT);
      assert.equal(error.details.field, field, error.message);
      return true;
    },
  );
}

describe("validateFinetuneSpec", () => {
  it("resolves a TI+LoRA spec to the method defaults", () => {
    const plan = validateFinetuneSpec(spec(), REGISTRY, LIMITS);
    assert.equal(plan.model, KIT);
    assert.equal(plan.engineMethod, "ti-lora");
    assert.deepEqual(plan.tokens, ["<sandal>", "<bag>"]);
    assert.equal(plan.settings.steps, METHOD_DEFAULTS.lora.steps);
    assert.equal(plan.tiSettings?.steps, METHOD_DEFAULTS["textual-inversion"].steps);
    assert.equal(plan.alpha, plan.rank, "alpha defaults to the rank");
  });

  it("answers INVALID_ARGUMENT naming the field for a missing spec, job id or model", () => {
    rejects(undefined, "spec");
    rejects(spec({ jobId: "x".repeat(257) }), "spec.job_id");
    rejects(spec({ baseModel: { name: "" } }), "spec.base_model.name");
  });

  it("answers NOT_FOUND, not INVALID_ARGUMENT, for a model the server does not serve", () => {
    assert.throws(
      () => validateFinetuneSpec(spec({ baseModel: { name: "other" } }), REGISTRY, LIMITS),
      (error: unknown) => error instanceof RpcError && error.grpcCode === GrpcCode.NOT_FOUND,
    );
  });

  it("rejects unknown methods, no classes and nameless classes", () => {
    rejects(spec({ method: 99 as FinetuneMethod }), "spec.method");
    rejects(spec({ classes: [] }), "spec.classes");
    rejects(spec({ classes: [{ name: "", token: "<a>" }] }), "spec.classes[0].name");
  });

  it("needs one distinct whitespace-free token per class for TI and TI+LoRA, none otherwise", () => {
    rejects(spec({ classes: [{ name: "a" }] }), "spec.classes[0].token");
    rejects(spec({ classes: [{ name: "a", token: "two words" }] }), "spec.classes[0].token");
    rejects(
      spec({
        classes: [
          { name: "a", token: "<x>" },
          { name: "b", token: "<x>" },
        ],
      }),
      "spec.classes[1].token",
    );
    const lora = validateFinetuneSpec(
      spec({ method: FinetuneMethod.TEXT_ENCODER_LORA, classes: [{ name: "a" }] }),
      REGISTRY,
      LIMITS,
    );
    assert.equal(lora.tokens, undefined);
  });

  it("holds hyperparameters to their bounds and the server's limits", () => {
    const h = (hyperparameters: SpecInit["hyperparameters"]) => spec({ hyperparameters });
    rejects(h({ batchSize: 0 }), "spec.hyperparameters.batch_size");
    rejects(h({ resolution: LIMITS.maxResolution + 1 }), "spec.hyperparameters.resolution");
    rejects(h({ templates: ["a photo"] }), "spec.hyperparameters.templates[0]");
    rejects(h({ lora: { rank: 0 } }), "spec.hyperparameters.lora.rank");
    rejects(h({ lora: { alpha: 0 } }), "spec.hyperparameters.lora.alpha");
    rejects(h({ lora: { maxTrainSteps: LIMITS.maxSteps + 1 } }), "spec.hyperparameters.lora.max_train_steps");
    rejects(
      h({ textualInversion: { learningRate: -1, initializerToken: "" } }),
      "spec.hyperparameters.textual_inversion.learning_rate",
    );
    rejects(
      spec({ method: FinetuneMethod.FULL_UNET, hyperparameters: { fullUnet: { maxTrainSteps: 0 } } }),
      "spec.hyperparameters.full_unet.max_train_steps",
    );
  });

  it("takes init adapters for TI+LoRA only", () => {
    rejects(
      spec({
        method: FinetuneMethod.TEXTUAL_INVERSION,
        initAdapters: [{ file: { name: "learned_embeds.safetensors" } }],
      }),
      "spec.init_adapters",
    );
  });
});
