/**
 * SamplePlanner with a fake model description and fake registry (no engine, no process): what each mode
 * plans per sample (label, prompt, source image, partner) and names per batch, and the model checks.
 */
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { DEFAULT_STRENGTH, drawGifPrompt, drawTargetClass } from "../../../shared/diffusion/index.js";
import { GenerateShardRequestSchema } from "../../../shared/gen/diffda/generation/v1/generation_pb.js";
import { RpcError } from "../../../shared/rpc/index.js";
import { pngTestImage } from "../../../shared/testing/png-image.js";
import type { ModelInfo } from "./engine/types.js";
import { SamplePlanner } from "./planner.js";
import { validateShardRequest } from "./request.js";
import { FAKE_REGISTRY } from "./testing/fake-registry.js";

const LIMITS = { maxShardSamples: 64, maxSources: 64, maxSteps: 100, maxSide: 512 };
/** A text-to-image model of 32-px images (latent side 8, VAE factor 4) that accepts any size. */
const TEXT_MODEL: ModelInfo = {
  vaeScaleFactor: 4,
  sampleSize: 8,
  fixedSize: false,
  instructPix2Pix: false,
  canEncodeImages: true,
};
const EDIT_MODEL: ModelInfo = { ...TEXT_MODEL, instructPix2Pix: true };

type Init = MessageInitShape<typeof GenerateShardRequestSchema>;

let sources: Init["sources"];

before(async () => {
  // Source i has label i % 2: sources 0 and 2 are cats, 1 and 3 dogs.
  sources = await Promise.all(
    [0, 1, 2, 3].map(async (i) => ({ image: await pngTestImage(16, i), label: i % 2, sourceIndex: i })),
  );
});

function planner(
  method: Init["method"],
  info: ModelInfo = TEXT_MODEL,
  extra: { sampling?: Init["sampling"] } = {},
) {
  const request = create(GenerateShardRequestSchema, {
    jobId: "job",
    count: 4,
    seed: 11n,
    samplesPerSource: 1,
    model: { baseModel: { name: "kit" } },
    classes: [{ name: "cat" }, { name: "dog", token: "<dog>" }],
    sources,
    method,
    ...extra,
  });
  return new SamplePlanner(validateShardRequest(request, FAKE_REGISTRY, LIMITS), info);
}

function invalid(run: () => unknown, field: string, message: string) {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof RpcError);
    assert.deepEqual([error.code, error.details.field, error.message], ["invalid_field", field, message]);
    return true;
  });
}

describe("SamplePlanner: per-mode plans from the registry", () => {
  it("text_to_image: the source's label and class phrase at the native size, no image", async () => {
    const p = planner({ case: "textToImage", value: {} });
    assert.deepEqual(p.pending(), [0, 1, 2, 3]);
    const dog = await p.plan(1);
    assert.deepEqual(
      [dog.label, dog.sourceLabel, dog.sourceIndex, dog.prompt, dog.height, dog.width, dog.image],
      [1, 1, 1, "a photo of a <dog>", 32, 32, undefined],
    );
    assert.deepEqual(await p.method(32, 32), { kind: "text_to_image", height: 32, width: 32 });
  });

  it("img2img_intra_class: the source image at its own size, with the engine's strength", async () => {
    const p = planner({ case: "img2imgIntraClass", value: { strength: 0.4 } });
    const cat = await p.plan(2);
    assert.deepEqual([cat.label, cat.prompt, cat.height, cat.width], [0, "a photo of a cat", 16, 16]);
    assert.equal(cat.image?.data.length, 3 * 16 * 16);
    assert.deepEqual(await p.method(16, 16), { kind: "img2img", strength: 0.4 });
  });

  it("img2img_inter_class: the drawn target class, and the default strength for soft labels", async () => {
    const p = planner({ case: "img2imgInterClass", value: {} });
    for (const index of [0, 1, 2, 3]) {
      const s = await p.plan(index);
      const target = drawTargetClass({ seed: 11, index }, 2);
      assert.deepEqual(
        [s.label, s.sourceLabel, s.prompt, s.interClassStrength],
        [target, index % 2, `a photo of a ${target === 1 ? "<dog>" : "cat"}`, DEFAULT_STRENGTH],
      );
    }
  });

  it("ddim_inversion_interpolation: a same-class partner, a suffixed first-stage prompt", async () => {
    const p = planner({ case: "ddimInversionInterpolation", value: { promptSuffixes: ["on grass."] } });
    const s = await p.plan(0);
    assert.ok(s.partner, "a partner image");
    // Source 0's only other cat is source 2.
    const partner = await planner({ case: "img2imgIntraClass", value: {} }).plan(2);
    assert.deepEqual(s.partner.data, partner.image?.data);
    assert.deepEqual(
      [s.prompt, s.suffixPrompt, s.inversionPrompt],
      ["a photo of a cat", "a photo of a cat on grass.", "a photo of a cat"],
    );
  });

  it("clip_guided_perturbation: GIF's own prompts by default, and a batch needs a CLIP folder", async () => {
    const p = planner({ case: "clipGuidedPerturbation", value: { rotationDegrees: 10 } });
    const s = await p.plan(3);
    assert.equal(s.prompt, drawGifPrompt({ seed: 11, index: 3 }, "<dog>"));
    await assert.rejects(p.method(16, 16), (error: unknown) => {
      assert.ok(error instanceof RpcError);
      assert.deepEqual(
        [error.code, error.details.field, error.message],
        [
          "invalid_field",
          "clip_guided_perturbation.clip_model.name",
          "clip_guided_perturbation.clip_model.name: no CLIP model to score with",
        ],
      );
      return true;
    });
    assert.deepEqual(await p.method(16, 16, "/clip"), {
      kind: "gif",
      strength: undefined,
      epsilon: undefined,
      stepSize: undefined,
      clipDir: "/clip",
      classPrompts: ["a photo of a cat", "a photo of a dog"],
    });
  });

  it("instruct_edit: 3-channel sources; mixing only when asked, fractals rendered once per size", async () => {
    const plain = planner({ case: "instructEdit", value: { instructions: ["make it snowy"] } }, EDIT_MODEL);
    const s = await plain.plan(0);
    assert.deepEqual([s.prompt, s.image?.channels], ["make it snowy", 3]);
    assert.deepEqual(await plain.method(16, 16), { kind: "instruct_edit", imageGuidanceScale: undefined });
    const mixing = planner(
      { case: "instructEdit", value: { halfConcat: true, fractalAlpha: 0.2 } },
      EDIT_MODEL,
    );
    const first = (await mixing.method(16, 16)) as unknown as {
      mix: { fractals: unknown[]; fractalAlpha: number };
    };
    assert.equal(first.mix.fractalAlpha, 0.2);
    assert.equal(first.mix.fractals.length, 8);
    const again = (await mixing.method(16, 16)) as unknown as typeof first;
    assert.equal(again.mix.fractals, first.mix.fractals, "the same fractals for the next batch");
  });

  it("rejects a model that cannot run the mode, naming model.base_model.name", () => {
    const field = "model.base_model.name";
    invalid(
      () => planner({ case: "instructEdit", value: {} }, TEXT_MODEL),
      field,
      `${field}: instruct_edit needs an instruction-edit (InstructPix2Pix-style) model`,
    );
    invalid(
      () => planner({ case: "img2imgIntraClass", value: {} }, EDIT_MODEL),
      field,
      `${field}: img2img needs a text-to-image model, not an instruction-edit one`,
    );
    invalid(
      () => planner({ case: "clipGuidedPerturbation", value: {} }, { ...TEXT_MODEL, canEncodeImages: false }),
      field,
      `${field}: gif needs a model with a VAE encoder`,
    );
    // Text-to-image needs no encoder.
    planner({ case: "textToImage", value: {} }, { ...TEXT_MODEL, canEncodeImages: false });
    invalid(
      () => planner({ case: "textToImage", value: {} }, TEXT_MODEL, { sampling: { width: 30 } }),
      "sampling.width",
      "sampling.width: must be a multiple of 4 (the VAE factor)",
    );
  });
});
