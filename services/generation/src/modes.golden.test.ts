/**
 * Golden images: every generation mode, on the bundled kit, through request validation, sample planning
 * and method dispatch (validateShardRequest → generateShard → the engine), at a tiny budget with fixed
 * seeds. The expected digests were recorded before the modes moved into the registry
 * (shared/generation-modes/), so any change to what a mode draws shows up here byte for byte.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { GenerateShardRequestSchema } from "../../../shared/gen/diffda/generation/v1/generation_pb.js";
import { createLimiter, loadModelRegistry, type ModelRegistry } from "../../../shared/service/index.js";
import { sha256Hex } from "../../../shared/service/wire/index.js";
import { createLogger, createMetrics } from "../../../shared/telemetry/index.js";
import { pngTestImage } from "../../../shared/testing/png-image.js";
import { findClipFolder } from "./engine/clip.js";
import { LocalEngine } from "./engine/local.js";
import { createGenerationMetrics } from "./metrics.js";
import { validateShardRequest } from "./request.js";
import { generateShard } from "./shard.js";

const KIT = "diffda-kit-v1";
const KIT_EDIT = "diffda-kit-v1-edit";
const LIMITS = { maxShardSamples: 64, maxSources: 64, maxSteps: 1000, maxSide: 512 };

type Method = MessageInitShape<typeof GenerateShardRequestSchema>["method"];

/** What one image must be: its source, label and prompt, and the sha256 of its PNG bytes. */
interface Golden {
  readonly sourceIndex: number;
  readonly label: number;
  readonly prompt: string;
  readonly sha256: string;
}

/** One golden case per mode: the method, the model it needs, and what each image must be. */
const CASES: readonly {
  readonly name: string;
  readonly model: string;
  readonly method: Method;
  readonly expected: readonly Golden[];
}[] = [
  {
    name: "text_to_image",
    model: KIT,
    method: { case: "textToImage", value: {} },
    expected: [
      {
        sourceIndex: 0,
        label: 0,
        prompt: "a photo of a sneaker",
        sha256: "38abf54cedd2a570d6ab742c2afdfbce44d940fdf9bf86b51c1f8e5c3cb7f50e",
      },
      {
        sourceIndex: 1,
        label: 1,
        prompt: "a photo of a t-shirt",
        sha256: "158be77bab32efe547215dff9ff6e39e0d66b28dc34b582c1444167b781763a9",
      },
    ],
  },
  {
    name: "img2img_intra_class",
    model: KIT,
    method: { case: "img2imgIntraClass", value: { strength: 0.6 } },
    expected: [
      {
        sourceIndex: 0,
        label: 0,
        prompt: "a photo of a sneaker",
        sha256: "0ce7cb486c12b1afbe9ff242b319bbd75e84adc4c1e71d2e28d011f2604c0c1f",
      },
      {
        sourceIndex: 1,
        label: 1,
        prompt: "a photo of a t-shirt",
        sha256: "7c3b6af10055435f4db56e4dfb3fffe38dc86c34e668a0631691063323991fcd",
      },
    ],
  },
  {
    name: "img2img_inter_class",
    model: KIT,
    method: { case: "img2imgInterClass", value: { strength: 0.7 } },
    expected: [
      {
        sourceIndex: 0,
        label: 0,
        prompt: "a photo of a sneaker",
        sha256: "1508c786cca25a3a006054027eaa76b8a6800030ab14736ba61cb288397deead",
      },
      {
        sourceIndex: 1,
        label: 0,
        prompt: "a photo of a sneaker",
        sha256: "58a627e4916d0a569025ca0547219797498ac1aa9f69bf8b68d1d8da84ba3988",
      },
    ],
  },
  {
    name: "instruct_edit",
    model: KIT_EDIT,
    method: {
      case: "instructEdit",
      value: { halfConcat: true, blendWidth: 4, fractalAlpha: 0.2, imageGuidanceScale: 1.5 },
    },
    expected: [
      {
        sourceIndex: 0,
        label: 0,
        prompt: "A transformed version of image into ukiyo-e",
        sha256: "a3799b5bf1a152a66f05596007c2e6644e363335d160433e90240fe9df9b75e2",
      },
      {
        sourceIndex: 1,
        label: 1,
        prompt: "A transformed version of image into autumn",
        sha256: "7e6f03f33214801b17928ccea92e79aaff15d7ec3644b51a574a6e9e93212996",
      },
    ],
  },
  {
    name: "ddim_inversion_interpolation",
    model: KIT,
    method: {
      case: "ddimInversionInterpolation",
      value: { inversionSteps: 3, splitRatio: 0.3, promptSuffixes: ["on a white background.", "in a shop."] },
    },
    expected: [
      {
        sourceIndex: 0,
        label: 0,
        prompt: "a photo of a sneaker in a shop.",
        sha256: "3fa78c5de4dc5acc5dfa022cced9fb7dcee046f55a15b1fddb1e3aedc6215f5f",
      },
      {
        sourceIndex: 1,
        label: 1,
        prompt: "a photo of a t-shirt in a shop.",
        sha256: "0d38c1450050c5aa3e6c73796f07e0a6719749ca23e448f8a97b3e2d82899568",
      },
    ],
  },
  {
    name: "clip_guided_perturbation",
    model: KIT,
    method: {
      case: "clipGuidedPerturbation",
      value: { strength: 0.6, epsilon: 0.8, stepSize: 0.1, rotationDegrees: 15 },
    },
    expected: [
      {
        sourceIndex: 0,
        label: 0,
        prompt: "a real-world photo of stylized sneaker",
        sha256: "78493a6355b9baefb6dc15cba91b29e906eb8c049d4ee110bc467a60b5e15871",
      },
      {
        sourceIndex: 1,
        label: 1,
        prompt: "an image of posterized t-shirt",
        sha256: "365e3d26b99a0d98b89abb601058ce8cfd5a5537c6500723ef394586786b6f5b",
      },
    ],
  },
];

describe("generation modes: golden images on the bundled kit", () => {
  let registry: ModelRegistry;
  let engine: LocalEngine;
  let sources: MessageInitShape<typeof GenerateShardRequestSchema>["sources"];

  before(async () => {
    registry = await loadModelRegistry(join(import.meta.dirname, "../../../models"));
    engine = new LocalEngine({ sessionOptions: { intraOpNumThreads: 1, interOpNumThreads: 1 } });
    // Two sources per class, so Diff-II has a same-class partner to interpolate with.
    sources = await Promise.all(
      [0, 1, 2, 3].map(async (i) => ({ image: await pngTestImage(32, i), label: i % 2, sourceIndex: i })),
    );
  });

  after(async () => {
    await engine?.close();
  });

  for (const c of CASES) {
    it(`${c.name} draws the recorded images`, async () => {
      const request = create(GenerateShardRequestSchema, {
        jobId: `golden-${c.name}`,
        firstSampleIndex: 1,
        count: 2,
        seed: 20251208n,
        samplesPerSource: 2,
        model: { baseModel: { name: c.model } },
        classes: [{ name: "sneaker" }, { name: "t-shirt" }],
        sources,
        sampling: { numInferenceSteps: 3, guidanceScale: 3 },
        method: c.method,
      });
      const shard = validateShardRequest(request, registry, LIMITS);
      const deps = {
        engine,
        metrics: createGenerationMetrics(createMetrics({ defaultMetrics: false })),
        logger: createLogger({ service: "generation", level: "silent" }),
        batchSize: 2,
        limiter: createLimiter(1),
        clipFolder: findClipFolder,
      };
      const images: Golden[] = [];
      for await (const event of generateShard(shard, deps, new AbortController().signal)) {
        if (event.kind === "image") {
          images.push({
            sourceIndex: event.sample.sourceIndex,
            label: event.sample.label,
            prompt: event.image.prompt,
            sha256: sha256Hex(event.image.png),
          });
        }
      }
      if (process.env.GOLDEN_PRINT) console.log(c.name, JSON.stringify(images));
      assert.equal(images.length, 2);
      assert.deepEqual(images, c.expected);
    });
  }
});
