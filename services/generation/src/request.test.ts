/**
 * validateShardRequest's generation modes: each is looked up in the registry and its parameters checked
 * against their declaration, with a fake model registry (no model folder, no process).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { GenerateShardRequestSchema } from "../../../shared/gen/diffda/generation/v1/generation_pb.js";
import { MODE_SPECS } from "../../../shared/generation-modes/specs.js";
import { RpcError } from "../../../shared/rpc/index.js";
import { type ShardLimits, validateShardRequest } from "./request.js";
import { FAKE_REGISTRY } from "./testing/fake-registry.js";

const LIMITS: ShardLimits = { maxShardSamples: 64, maxSources: 64, maxSteps: 100, maxSide: 512 };

type Method = MessageInitShape<typeof GenerateShardRequestSchema>["method"];

function request(method: Method) {
  return create(GenerateShardRequestSchema, {
    jobId: "job",
    count: 2,
    seed: 7n,
    samplesPerSource: 1,
    model: { baseModel: { name: "kit" } },
    classes: [{ name: "cat" }, { name: "dog" }],
    sources: [
      { label: 0, sourceIndex: 0 },
      { label: 1, sourceIndex: 1 },
    ],
    method,
  });
}

function rejection(method: Method): RpcError {
  try {
    validateShardRequest(request(method), FAKE_REGISTRY, LIMITS);
  } catch (error) {
    assert.ok(error instanceof RpcError, String(error));
    return error;
  }
  assert.fail("the request was accepted");
}

describe("validateShardRequest: generation modes from the registry", () => {
  it("resolves every mode to its runner, with the metric kind of today", () => {
    const methods: Method[] = [
      { case: "textToImage", value: {} },
      { case: "img2imgIntraClass", value: { strength: 0.5 } },
      { case: "img2imgInterClass", value: {} },
      { case: "instructEdit", value: {} },
      { case: "ddimInversionInterpolation", value: {} },
      { case: "clipGuidedPerturbation", value: {} },
    ];
    const kinds = methods.map((m) => {
      const shard = validateShardRequest(request(m), FAKE_REGISTRY, LIMITS);
      assert.equal(shard.method.runner.spec.protoCase, m?.case);
      return shard.method.kind;
    });
    assert.deepEqual(kinds, ["text_to_image", "img2img", "inter_class", "instruct_edit", "diff_ii", "gif"]);
  });

  it("accepts every declared mode with its parameters unset", () => {
    for (const spec of MODE_SPECS) {
      const method = { case: spec.protoCase, value: {} } as Method;
      const shard = validateShardRequest(request(method), FAKE_REGISTRY, LIMITS);
      assert.deepEqual([shard.method.kind, shard.method.runner.spec], [spec.kind, spec]);
    }
  });

  it("fills the defaults of unset parameters and resolves a named CLIP model", () => {
    const edit = validateShardRequest(request({ case: "instructEdit", value: {} }), FAKE_REGISTRY, LIMITS);
    assert.deepEqual(edit.method.resolved, {
      instructions: [],
      imageGuidanceScale: undefined,
      halfConcat: false,
      blendWidth: undefined,
      fractalAlpha: 0,
      fractalImages: [],
    });
    const gif = validateShardRequest(
      request({ case: "clipGuidedPerturbation", value: { epsilon: 0.5, clipModel: { name: "clip-b" } } }),
      FAKE_REGISTRY,
      LIMITS,
    );
    assert.deepEqual(gif.method.resolved, {
      strength: undefined,
      epsilon: 0.5,
      stepSize: undefined,
      clipDir: "/models/clip-b",
      rotationDegrees: 0,
      horizontalFlip: true,
    });
    assert.equal(gif.method.runner.clipModel?.(gif.method.resolved), "/models/clip-b");
    const diffII = validateShardRequest(
      request({
        case: "ddimInversionInterpolation",
        value: { promptSuffixes: ["on grass."], maxAngle: 2 * Math.PI },
      }),
      FAKE_REGISTRY,
      LIMITS,
    );
    assert.deepEqual(diffII.method.resolved, {
      inversionSteps: undefined,
      splitRatio: undefined,
      suffixes: ["on grass."],
    });
  });

  it("answers bad parameters with INVALID_ARGUMENT naming the field, in the messages of the wire helpers", () => {
    const cases: [Method, string, string][] = [
      [{ case: undefined }, "method", "method: exactly one generation method must be set"],
      [
        { case: "img2imgIntraClass", value: { strength: 1.5 } },
        "img2img_intra_class.strength",
        "img2img_intra_class.strength: must be a number in (0, 1], got 1.5",
      ],
      [
        { case: "img2imgInterClass", value: { strength: 0 } },
        "img2img_inter_class.strength",
        "img2img_inter_class.strength: must be a number in (0, 1], got 0",
      ],
      [
        { case: "ddimInversionInterpolation", value: { splitRatio: 2 } },
        "ddim_inversion_interpolation.split_ratio",
        "ddim_inversion_interpolation.split_ratio: must be a number in [0, 1], got 2",
      ],
      [
        { case: "ddimInversionInterpolation", value: { inversionSteps: 0 } },
        "ddim_inversion_interpolation.inversion_steps",
        "ddim_inversion_interpolation.inversion_steps: must be an integer in [1, 1000], got 0",
      ],
      [
        { case: "ddimInversionInterpolation", value: { promptSuffixes: ["ok", ""] } },
        "ddim_inversion_interpolation.prompt_suffixes[1]",
        "ddim_inversion_interpolation.prompt_suffixes[1]: must not be empty",
      ],
      [
        { case: "instructEdit", value: { fractalAlpha: 2 } },
        "instruct_edit.fractal_alpha",
        "instruct_edit.fractal_alpha: must be a number in [0, 1], got 2",
      ],
      [
        { case: "instructEdit", value: { fractalImages: Array.from({ length: 65 }, () => ({})) } },
        "instruct_edit.fractal_images",
        "instruct_edit.fractal_images: must hold a number of entries in (-inf, 64], got 65",
      ],
      [
        { case: "clipGuidedPerturbation", value: { epsilon: 0 } },
        "clip_guided_perturbation.epsilon",
        "clip_guided_perturbation.epsilon: must be a number in (0, 100], got 0",
      ],
      [
        { case: "clipGuidedPerturbation", value: { rotationDegrees: 200 } },
        "clip_guided_perturbation.rotation_degrees",
        "clip_guided_perturbation.rotation_degrees: must be a number in [0, 180], got 200",
      ],
    ];
    for (const [method, field, message] of cases) {
      const error = rejection(method);
      assert.deepEqual(
        [error.code, error.grpcCode, error.details.field, error.message],
        ["invalid_field", 3, field, message],
      );
    }
  });

  it("answers options it does not implement with UNIMPLEMENTED, and unknown models with NOT_FOUND", () => {
    const guidance = rejection({ case: "ddimInversionInterpolation", value: { inversionGuidanceScale: 2 } });
    assert.deepEqual(
      [guidance.code, guidance.details.field, guidance.message],
      [
        "unimplemented",
        "ddim_inversion_interpolation.inversion_guidance_scale",
        "ddim_inversion_interpolation.inversion_guidance_scale: only 1 (no guidance) is implemented",
      ],
    );
    const angle = rejection({ case: "ddimInversionInterpolation", value: { maxAngle: 1 } });
    assert.deepEqual(
      [angle.code, angle.details.field, angle.message],
      [
        "unimplemented",
        "ddim_inversion_interpolation.max_angle",
        "ddim_inversion_interpolation.max_angle: angles are drawn over the full circle; only 2π is implemented",
      ],
    );
    const clip = rejection({ case: "clipGuidedPerturbation", value: { clipModel: { name: "nope" } } });
    assert.deepEqual(
      [clip.code, clip.grpcCode, clip.details.field],
      ["model_not_found", 5, "clip_guided_perturbation.clip_model.name"],
    );
  });
});
