/**
 * GenerationService over a real socket, the service started as its own process on the tiny test models.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { after, before, describe, it } from "node:test";
import { LocalEngine, WorkerEngine } from "../services/generation/src/index.js";
import { decodePng } from "../shared/data/index.js";
import { drawTargetClass } from "../shared/diffusion/index.js";
import { AdapterKind } from "../shared/gen/diffda/common/v1/model_pb.js";
import {
  type GenerateShardRequestSchema,
  type GenerateShardResponse,
  GenerationService,
} from "../shared/gen/diffda/generation/v1/generation_pb.js";
import { f32, type Tensor } from "../shared/ml/onnx/index.js";
import { encodeSafetensors } from "../shared/ml/safetensors/index.js";
import { type Client, RpcError } from "../shared/rpc/index.js";
import { folderDigest } from "../shared/service/index.js";
import { sha256Hex } from "../shared/service/wire/index.js";
import { pngTestImage } from "../shared/testing/png-image.js";
import { metricValue, type ServiceProcess, startService } from "../shared/testing/service-process.js";
import { connect, type Init, rpcError } from "./support/clients.js";
import { TINY, TINY_EDIT, type TinyModels, tinyModels } from "./support/models.js";

/** A request init shape (not a message instance), so tests can spread and override fields. */
type Request = Init<typeof GenerateShardRequestSchema>;

const CLASSES = [{ name: "cat" }, { name: "dog" }, { name: "bird", token: "<bird>" }];

async function sources(count: number) {
  return Promise.all(
    Array.from({ length: count }, async (_, i) => ({
      image: await pngTestImage(32, i),
      label: i % 3,
      sourceIndex: i,
    })),
  );
}

/** A float32 tensor of `dims` with small distinct values. */
function weights(dims: number[]): Tensor {
  const t = f32(dims);
  for (let i = 0; i < t.data.length; i++) (t.data as Float32Array)[i] = ((i % 7) - 3) / 50;
  return t;
}

/** An adapter of the request's AdapterSet: the safetensors of `tensors`, with its sha256. */
function adapterFile(kind: AdapterKind, tensors: Record<string, Tensor>, tokens: string[] = []) {
  const content = encodeSafetensors(tensors);
  return { kind, tokens, file: { name: "adapter.safetensors", content, sha256: sha256Hex(content) } };
}

async function collect(client: Client<typeof GenerationService>, request: Request) {
  const events: GenerateShardResponse["event"][] = [];
  for await (const response of client.generateShard(request)) events.push(response.event);
  const images = events.flatMap((e) => (e.case === "image" ? [e.value] : []));
  return { events, images };
}

describe("GenerationService (own process, real socket)", () => {
  let models: TinyModels;
  let service: ServiceProcess;
  let client: Client<typeof GenerationService>;
  let close: () => void;
  let base: Request;

  before(async () => {
    models = await tinyModels();
    service = await startService("generation", { MODEL_DIR: models.root, GENERATION_BATCH_SIZE: "8" });
    await service.ready();
    ({
      client,
      channel: { close },
    } = connect(GenerationService, service.address));
    base = {
      jobId: "job-1",
      shardIndex: 0,
      firstSampleIndex: 0,
      count: 32,
      seed: 1234n,
      samplesPerSource: 4,
      model: { baseModel: { name: TINY } },
      classes: CLASSES,
      sources: await sources(8),
      sampling: { numInferenceSteps: 6 },
      method: { case: "textToImage", value: {} },
    };
  });

  after(async () => {
    close?.();
    const code = await service?.stop();
    await models?.remove();
    assert.equal(code, 0);
  });

  it("streams a shard of 32 images, each with its label, source, seed and checksum, then ShardCompleted", async () => {
    const { events, images } = await collect(client, base);
    assert.equal(images.length, 32);
    assert.equal(events[0].case, "progress");
    const last = events[events.length - 1];
    assert.equal(last.case, "completed");
    assert.equal(last.value.imageCount, 32);
    // The shard names the model it drew with, by id and folder digest, as ListModels lists it.
    const listed = await client.listModels({});
    const drew = listed.models.find((m) => m.id === last.value.modelId);
    assert.ok(drew, `ListModels lists ${last.value.modelId}`);
    assert.equal(last.value.modelSha256, drew.sha256);
    assert.equal(last.value.modelSha256, (await folderDigest(join(models.root, drew.id))).sha256);
    assert.ok((last.value.cpuSeconds ?? 0) > 0, "the shard reports the CPU it cost");
    assert.ok(events.filter((e) => e.case === "progress" && e.value.stage === "denoise").length >= 4);
    for (const [k, image] of images.entries()) {
      assert.equal(image.sampleIndex, k);
      assert.equal(image.seed, 1234n);
      const sample = image.sample;
      assert.ok(sample?.image);
      assert.equal(sample.sourceIndex, Math.floor(k / 4));
      assert.equal(sample.label, Math.floor(k / 4) % 3);
      assert.equal(sample.interClass, undefined);
      assert.equal(sha256Hex(sample.image.data), sample.image.sha256);
      assert.equal(
        image.prompt,
        `a photo of a ${sample.label === 2 ? "<bird>" : CLASSES[sample.label].name}`,
      );
      const png = await decodePng(sample.image.data);
      assert.deepEqual([png.width, png.height, sample.image.width, sample.image.height], [32, 32, 32, 32]);
    }
    const metrics = await service.metrics();
    assert.ok(
      (metricValue(metrics, "diffda_generation_images_total", { generation: "text_to_image" }) ?? 0) >= 32,
    );
    assert.ok(metrics.includes("diffda_generation_shard_duration_seconds_bucket"));
  });

  it("labels inter-class edits with the drawn target class and the source label and strength", async () => {
    const { images } = await collect(client, {
      ...base,
      count: 12,
      samplesPerSource: 2,
      method: { case: "img2imgInterClass", value: { strength: 0.6 } },
    });
    assert.equal(images.length, 12);
    for (const image of images) {
      const target = drawTargetClass({ seed: 1234, index: image.sampleIndex }, 3);
      const source = Math.floor(image.sampleIndex / 2);
      assert.equal(image.sample?.label, target);
      assert.equal(image.sample?.interClass?.sourceLabel, source % 3);
      assert.ok(Math.abs((image.sample?.interClass?.strength ?? 0) - 0.6) < 1e-6);
    }
  });

  it("gives byte-identical images for the same request, for any shard split, and honours skip_sample_indices", async () => {
    const request = {
      ...base,
      count: 16,
      method: { case: "img2imgIntraClass" as const, value: { strength: 0.7 } },
    };
    const first = await collect(client, request);
    const second = await collect(client, request);
    const hashes = (r: typeof first) => r.images.map((i) => `${i.sampleIndex}:${i.sample?.image?.sha256}`);
    assert.deepEqual(hashes(second), hashes(first));
    assert.equal(
      new Set(first.images.map((i) => i.sample?.image?.sha256)).size,
      16,
      "samples differ from each other",
    );
    // The same samples from two shards of other sizes: each sample depends on (seed, sample index) only.
    const a = await collect(client, { ...request, shardIndex: 1, count: 5 });
    const b = await collect(client, { ...request, shardIndex: 2, firstSampleIndex: 5, count: 11 });
    assert.deepEqual([...hashes(a), ...hashes(b)], hashes(first));
    // A retried shard skips what the caller holds.
    const retried = await collect(client, { ...request, skipSampleIndices: [0, 3, 15] });
    assert.deepEqual(
      retried.images.map((i) => i.sampleIndex),
      Array.from({ length: 16 }, (_, i) => i).filter((i) => ![0, 3, 15].includes(i)),
    );
    assert.deepEqual(
      hashes(retried),
      hashes(first).filter((_, i) => ![0, 3, 15].includes(i)),
    );
    const done = retried.events[retried.events.length - 1];
    assert.equal(done.case === "completed" && done.value.imageCount, 13);
  });

  it("stops within one denoising step when the client cancels mid-shard", async () => {
    const controller = new AbortController();
    let lastStep = 0;
    let images = 0;
    const cancelledAt = await (async () => {
      try {
        for await (const response of client.generateShard(
          { ...base, jobId: "job-cancel", sampling: { numInferenceSteps: 400 } },
          { signal: controller.signal },
        )) {
          const e = response.event;
          if (e.case === "image") images++;
          if (e.case === "progress" && e.value.stage === "denoise") {
            lastStep = e.value.step;
            if (lastStep >= 20) {
              const at = performance.now();
              controller.abort();
              return at;
            }
          }
        }
      } catch (error) {
        assert.ok(error instanceof RpcError && error.code === "cancelled", String(error));
      }
      return performance.now();
    })();
    assert.equal(images, 0);
    const ended = await service.waitForLog((l) => l.event === "shard_ended" && l.job_id === "job-cancel");
    const stoppedAfterMs = performance.now() - cancelledAt;
    assert.equal(ended.outcome, "cancelled");
    assert.ok(
      (ended.steps_after_cancel as number) <= 1,
      `ran ${ended.steps_after_cancel} steps after the cancel`,
    );
    const last = ended.last_step as { step: number; totalSteps: number };
    assert.ok(last.step < last.totalSteps && last.step >= lastStep, JSON.stringify(last));
    assert.equal(ended.images, 0);
    assert.ok(stoppedAfterMs < 5_000, `the shard ended ${stoppedAfterMs} ms after the cancel`);
    assert.equal(
      metricValue(await service.metrics(), "diffda_generation_shards_in_flight", {
        generation: "text_to_image",
      }),
      0,
    );
  });

  it("honours the call's deadline: DEADLINE_EXCEEDED, and the engine stops within a step", async () => {
    const started = performance.now();
    const error = await rpcError(
      (async () => {
        for await (const _ of client.generateShard(
          { ...base, jobId: "job-deadline", sampling: { numInferenceSteps: 1000 } },
          { timeoutMs: 400 },
        )) {
          // progress only: the deadline passes long before the first batch is done
        }
      })(),
    );
    assert.deepEqual([error.code, error.grpcCode], ["deadline_exceeded", 4]);
    const ended = await service.waitForLog((l) => l.event === "shard_ended" && l.job_id === "job-deadline");
    assert.equal(ended.outcome, "cancelled");
    assert.ok((ended.steps_after_cancel as number) <= 1);
    assert.ok(performance.now() - started < 10_000);
  });

  it("runs every generation method", async () => {
    const small = { ...base, count: 4, samplesPerSource: 1, sampling: { numInferenceSteps: 4 } };
    const cases: [string, Request][] = [
      [
        "instruct edit + DiffuseMix",
        {
          ...small,
          model: { baseModel: { name: TINY_EDIT } },
          method: {
            case: "instructEdit",
            value: { halfConcat: true, fractalAlpha: 0.2, instructions: ["make it snowy"] },
          },
        },
      ],
      [
        "plain instruct edit",
        { ...small, model: { baseModel: { name: TINY_EDIT } }, method: { case: "instructEdit", value: {} } },
      ],
      [
        "Diff-II",
        {
          ...small,
          count: 6,
          sampling: { numInferenceSteps: 4, promptTemplates: ["a photo of a {}"] },
          method: {
            case: "ddimInversionInterpolation",
            value: { inversionSteps: 4, promptSuffixes: ["on a branch.", "in the sky."] },
          },
        },
      ],
      [
        "GIF",
        {
          ...small,
          method: { case: "clipGuidedPerturbation", value: { rotationDegrees: 20, epsilon: 0.5 } },
        },
      ],
      [
        "text-to-image, DDIM at 48 px",
        { ...small, sampling: { numInferenceSteps: 4, scheduler: "ddim", width: 48, height: 48 } },
      ],
    ];
    for (const [name, request] of cases) {
      const { images, events } = await collect(client, request);
      assert.equal(images.length, request.count, name);
      assert.equal(events[events.length - 1].case, "completed", name);
      for (const image of images) {
        const png = await decodePng(image.sample?.image?.data as Uint8Array);
        const side = name.includes("48 px") ? 48 : 32;
        assert.deepEqual([png.width, png.height], [side, side], name);
      }
      if (name === "Diff-II") {
        assert.ok(
          images.every((i) => i.prompt.endsWith(".")),
          "the first-stage prompt carries a suffix",
        );
      }
      if (name.startsWith("instruct")) assert.equal(images[0].prompt, "make it snowy");
    }
  });

  it("rejects bad requests with INVALID_ARGUMENT naming the field", async () => {
    const image = await pngTestImage(32, 0);
    const img2img = { case: "img2imgIntraClass" as const, value: { strength: 0.5 } };
    const cases: [Request, string, number?][] = [
      [{ ...base, count: 0 }, "count"],
      [{ ...base, jobId: "" }, "job_id"],
      [{ ...base, seed: 2n ** 60n }, "seed"],
      [{ ...base, samplesPerSource: 0 }, "samples_per_source"],
      [{ ...base, classes: [] }, "classes"],
      [{ ...base, method: { case: undefined } }, "method"],
      [
        { ...base, method: { case: "img2imgIntraClass", value: { strength: 1.5 } } },
        "img2img_intra_class.strength",
      ],
      [{ ...base, sampling: { numInferenceSteps: 0 } }, "sampling.num_inference_steps"],
      [{ ...base, sampling: { width: 30 } }, "sampling.width"],
      [{ ...base, sampling: { promptTemplates: ["a photo"] } }, "sampling.prompt_templates[0]"],
      [{ ...base, skipSampleIndices: [99] }, "skip_sample_indices"],
      [{ ...base, sources: [{ ...base.sources?.[0], label: 7 }] }, "sources[0].label"],
      [{ ...base, sources: base.sources?.slice(0, 2) }, "sources"],
      [{ ...base, model: { baseModel: { name: "../etc" } } }, "model.base_model.name"],
      [
        {
          ...base,
          model: {
            baseModel: { name: TINY },
            adapters: [
              { kind: 9 as AdapterKind, file: { name: "a.safetensors", content: new Uint8Array(8) } },
            ],
          },
        },
        "model.adapters[0].kind",
      ],
      [
        {
          ...base,
          model: {
            baseModel: { name: TINY },
            adapters: [{ kind: 1, tokens: ["<x>"], file: { name: "../a", content: new Uint8Array(8) } }],
          },
        },
        "model.adapters[0].file.name",
      ],
      [
        {
          ...base,
          model: {
            baseModel: { name: TINY },
            adapters: [{ kind: 2, file: { name: "l.safetensors", content: new Uint8Array(8) } }],
          },
        },
        "model.adapters[0].file.content",
      ],
      [{ ...base, method: img2img, sources: [{ label: 0, sourceIndex: 0 }], count: 1 }, "sources[0].image"],
      [
        {
          ...base,
          method: img2img,
          sources: [{ label: 0, sourceIndex: 0, image: { ...image, format: 0 } }],
          count: 1,
        },
        "sources[0].image.format",
      ],
      [
        {
          ...base,
          method: img2img,
          sources: [
            { label: 0, sourceIndex: 0, image: { ...image, data: new Uint8Array([1, 2, 3]), sha256: "" } },
          ],
          count: 1,
        },
        "sources[0].image",
      ],
      [{ ...base, method: { case: "instructEdit", value: {} } }, "model.base_model.name"],
      [
        { ...base, method: { case: "ddimInversionInterpolation", value: { splitRatio: 2 } } },
        "ddim_inversion_interpolation.split_ratio",
      ],
    ];
    for (const [request, field] of cases) {
      const error = await rpcError(collect(client, request));
      assert.equal(error.grpcCode, 3, `${field}: ${error.code} ${error.message}`);
      assert.equal(error.details.field, field, error.message);
      assert.ok(error.message.includes(field), error.message);
    }
    const checksum = await rpcError(
      collect(client, {
        ...base,
        method: img2img,
        count: 1,
        sources: [{ label: 0, sourceIndex: 0, image: { ...image, sha256: "0".repeat(64) } }],
      }),
    );
    assert.deepEqual(
      [checksum.code, checksum.grpcCode, checksum.details.field],
      ["checksum_mismatch", 15, "sources[0].image.sha256"],
    );
    const unknown = await rpcError(collect(client, { ...base, model: { baseModel: { name: "sd15" } } }));
    assert.deepEqual([unknown.code, unknown.grpcCode], ["model_not_found", 5]);
    const scheduler = await rpcError(collect(client, { ...base, sampling: { scheduler: "heun" } }));
    assert.deepEqual([scheduler.code, scheduler.details.field], ["unimplemented", "sampling.scheduler"]);
  });

  it("a kohya LoRA draws exactly what the same weights in PEFT keys draw, and not what the base model draws", async () => {
    // The images a job gets from an uploaded kohya file (the gateway sends the stored bytes as they are)
    // must be those of the engine applying that LoRA: the same weights named the PEFT way are the
    // reference, the base model the control.
    const module = "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k";
    const kohya = `lora_unet_${module.replaceAll(".", "_")}`;
    const strong = (dims: number[]) => {
      const t = weights(dims);
      for (let i = 0; i < t.data.length; i++) (t.data as Float32Array)[i] *= 40;
      return t;
    };
    const draw = async (
      adapters: (ReturnType<typeof adapterFile> & { loraRank?: number; loraAlpha?: number })[],
    ) =>
      (
        await collect(client, { ...base, count: 4, model: { baseModel: { name: TINY }, adapters } })
      ).images.map((i) => sha256Hex(i.sample?.image?.data ?? new Uint8Array()));
    const viaKohya = await draw([
      {
        ...adapterFile(AdapterKind.UNET_LORA, {
          [`${kohya}.lora_down.weight`]: strong([2, 16]),
          [`${kohya}.lora_up.weight`]: strong([8, 2]),
          [`${kohya}.alpha`]: f32([], [2]),
        }),
        loraRank: 2,
        loraAlpha: 2,
      },
    ]);
    const viaPeft = await draw([
      {
        ...adapterFile(AdapterKind.UNET_LORA, {
          [`unet.${module}.lora_A.weight`]: strong([2, 16]),
          [`unet.${module}.lora_B.weight`]: strong([8, 2]),
        }),
        loraRank: 2,
        loraAlpha: 2,
      },
    ]);
    const plain = await draw([]);
    assert.equal(viaKohya.length, 4);
    assert.deepEqual(viaKohya, viaPeft, "the two key conventions are one LoRA");
    assert.notDeepEqual(viaKohya, plain, "the LoRA changes what is drawn");
  });

  it("checks adapter files against the base model without generating", async () => {
    // attn2.to_k of the tiny UNet maps the 16-wide text states to 8: ΔW = up [8, r] · down [r, 16].
    const module = "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k";
    const kohya = `lora_unet_${module.replaceAll(".", "_")}`;
    const check = (adapters: ReturnType<typeof adapterFile>[], name = TINY) =>
      client.checkAdapters({ model: { baseModel: { name }, adapters } });
    const peft = {
      [`unet.${module}.lora_A.weight`]: weights([2, 16]),
      [`unet.${module}.lora_B.weight`]: weights([8, 2]),
    };
    assert.deepEqual(await check([adapterFile(2, peft)]), await check([]));
    await check([
      adapterFile(2, {
        [`${kohya}.lora_down.weight`]: weights([2, 16]),
        [`${kohya}.lora_up.weight`]: weights([8, 2]),
        [`${kohya}.alpha`]: f32([], [2]),
      }),
    ]);
    await check([adapterFile(1, { "<cat>": weights([16]) }, ["<cat>"]), adapterFile(2, peft)]);

    const wrongShape = await rpcError(
      check([adapterFile(2, { ...peft, [`unet.${module}.lora_A.weight`]: weights([2, 8]) })]),
    );
    assert.equal(wrongShape.code, "invalid_field");
    assert.equal(wrongShape.grpcCode, 3);
    assert.deepEqual(
      [
        wrongShape.details.field,
        wrongShape.details.key,
        wrongShape.details.expected,
        wrongShape.details.found,
      ],
      ["model.adapters[0].file.content", `unet.${module}.lora_A.weight`, "[2,16]", "[2,8]"],
    );
    assert.match(wrongShape.message, /lora_A\.weight.*expected \[2,16\], found \[2,8\]/);
    const wrongUp = await rpcError(
      check([adapterFile(2, { ...peft, [`unet.${module}.lora_B.weight`]: weights([16, 2]) })]),
    );
    assert.equal(wrongUp.details.key, `unet.${module}.lora_B.weight`);

    const unknownModule = await rpcError(
      check([
        adapterFile(2, {
          "unet.down_blocks.0.attentions.0.transformer_blocks.0.attn9.to_q.lora_A.weight": weights([2, 8]),
          "unet.down_blocks.0.attentions.0.transformer_blocks.0.attn9.to_q.lora_B.weight": weights([8, 2]),
        }),
      ]),
    );
    assert.deepEqual(
      [unknownModule.code, unknownModule.details.key],
      ["invalid_field", "unet.down_blocks.0.attentions.0.transformer_blocks.0.attn9.to_q.lora_A.weight"],
    );
    const wrongWidth = await rpcError(
      check([adapterFile(2, peft), adapterFile(1, { emb_params: weights([2, 12]) }, ["<cat>"])]),
    );
    assert.deepEqual(
      [
        wrongWidth.details.field,
        wrongWidth.details.key,
        wrongWidth.details.expected,
        wrongWidth.details.found,
      ],
      ["model.adapters[1].file.content", "emb_params", "[2,16]", "[2,12]"],
    );
    const unknownKey = await rpcError(check([adapterFile(2, { "unet.conv_in.weight": weights([8, 4]) })]));
    assert.equal(unknownKey.details.field, "model.adapters[0].file.content");
    const noModel = await rpcError(check([adapterFile(2, peft)], "sd15"));
    assert.deepEqual([noModel.code, noModel.grpcCode], ["model_not_found", 5]);
  });
});

describe("generation engine and the event loop", () => {
  it("keeps the event loop responsive in a worker thread, where in-process generation blocks it", async (t) => {
    const models = await tinyModels();
    const spec = { id: TINY, dir: `${models.root}/${TINY}`, adapters: [] };
    const delays: Record<string, { mean: number; p99: number }> = {};
    try {
      for (const [name, engine] of [
        ["in-process", new LocalEngine()],
        ["worker", new WorkerEngine()],
      ] as const) {
        const lease = await engine.acquire(spec);
        const batch = {
          modelKey: lease.key,
          method: { kind: "text_to_image" as const, height: 32, width: 32 },
          sampling: { steps: 20 },
          samples: Array.from({ length: 16 }, (_, i) => ({
            index: i,
            seed: 1,
            prompt: "a photo of a cat",
            label: 0,
            sourceLabel: 0,
          })),
        };
        await engine.generate(batch);
        const histogram = monitorEventLoopDelay({ resolution: 1 });
        histogram.enable();
        for (let r = 0; r < 2; r++) await engine.generate(batch);
        histogram.disable();
        delays[name] = { mean: histogram.mean / 1e6, p99: histogram.percentile(99) / 1e6 };
        await engine.close();
      }
    } finally {
      await models.remove();
    }
    t.diagnostic(`event-loop delay during generation (ms): ${JSON.stringify(delays)}`);
    assert.ok(delays.worker.mean < delays["in-process"].mean, JSON.stringify(delays));
  });
});
