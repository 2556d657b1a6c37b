/**
 * FinetuneService over a real socket, started as its own process, and the adapters it returns used by a
 * GenerationService process on the same tiny models.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type Adapter, AdapterKind } from "../shared/gen/diffda/common/v1/model_pb.js";
import {
  type FinetuneHyperparametersSchema,
  FinetuneMethod,
  type FinetuneRequestSchema,
  type FinetuneResult,
  FinetuneService,
  type FinetuneSpecSchema,
  type FinetuneUploadRequestSchema,
} from "../shared/gen/diffda/finetune/v1/finetune_pb.js";
import { GenerationService } from "../shared/gen/diffda/generation/v1/generation_pb.js";
import type { Client } from "../shared/rpc/index.js";
import { sha256Hex } from "../shared/service/wire/index.js";
import { pngTestImage } from "../shared/testing/png-image.js";
import { metricValue, type ServiceProcess, startService } from "../shared/testing/service-process.js";
import { connect, type Init, rpcError } from "./support/clients.js";
import { TINY, type TinyModels, tinyInversionSpec, tinyModels } from "./support/models.js";

type FinetuneInit = Init<typeof FinetuneRequestSchema>;
type SpecInit = Init<typeof FinetuneSpecSchema>;

async function finetune(client: Client<typeof FinetuneService>, request: FinetuneInit) {
  let result: FinetuneResult | undefined;
  const stages = new Set<string>();
  for await (const response of client.finetune(request)) {
    if (response.event.case === "progress") stages.add(response.event.value.stage);
    if (response.event.case === "result") result = response.event.value;
  }
  assert.ok(result, "a result ends the stream");
  return { result, stages };
}

describe("FinetuneService → GenerationService (own processes, real sockets)", () => {
  let models: TinyModels;
  let finetuner: ServiceProcess;
  let generator: ServiceProcess;
  let ft: Client<typeof FinetuneService>;
  let gen: Client<typeof GenerationService>;
  const closers: (() => void)[] = [];
  let base: FinetuneInit;
  let spec: SpecInit;

  before(async () => {
    models = await tinyModels();
    [finetuner, generator] = await Promise.all([
      startService("finetune", { MODEL_DIR: models.root }),
      startService("generation", { MODEL_DIR: models.root }),
    ]);
    await Promise.all([finetuner.ready(), generator.ready()]);
    const a = connect(FinetuneService, finetuner.address);
    const b = connect(GenerationService, generator.address);
    ft = a.client;
    gen = b.client;
    closers.push(a.channel.close, b.channel.close);
    const ti = tinyInversionSpec("job-ft", { steps: 4, batchSize: 4, seed: 11n });
    spec = {
      ...ti,
      hyperparameters: {
        ...ti.hyperparameters,
        lora: { maxTrainSteps: 3, rank: 2, alpha: 2 },
        fullUnet: { maxTrainSteps: 2 },
      },
    };
    const images = await Promise.all(
      Array.from({ length: 6 }, async (_, i) => ({
        image: await pngTestImage(32, 40 + i),
        label: i % 2,
        sourceIndex: i,
      })),
    );
    base = { spec, images };
  });

  after(async () => {
    for (const close of closers) close();
    const codes = await Promise.all([finetuner?.stop(), generator?.stop()]);
    await models?.remove();
    assert.deepEqual(codes, [0, 0]);
  });

  /** Hashes of a 4-image text-to-image shard with the classes' tokens and `adapters`. */
  async function generate(adapters: Adapter[], jobId = "job-gen"): Promise<string[]> {
    const hashes: string[] = [];
    for await (const response of gen.generateShard({
      jobId,
      count: 4,
      seed: 3n,
      samplesPerSource: 2,
      model: { baseModel: { name: TINY }, adapters },
      classes: spec.classes,
      sources: [
        { label: 0, sourceIndex: 0 },
        { label: 1, sourceIndex: 1 },
      ],
      sampling: { numInferenceSteps: 4 },
      method: { case: "textToImage", value: {} },
    })) {
      if (response.event.case === "image") {
        assert.ok(response.event.value.prompt.includes("<"), response.event.value.prompt);
        hashes.push(response.event.value.sample?.image?.sha256 ?? "");
      }
    }
    assert.equal(hashes.length, 4);
    return hashes;
  }

  it("learns textual inversion tokens whose adapter GenerationService then generates with", async () => {
    const { result, stages } = await finetune(ft, base);
    assert.ok(stages.has("textual_inversion"), [...stages].join());
    assert.equal(result.steps, 4);
    assert.ok(Number.isFinite(result.finalLoss) && result.finalLoss > 0);
    assert.ok((result.cpuSeconds ?? 0) > 0, "the run reports the CPU it cost");
    assert.equal(result.adapters?.baseModel?.name, TINY);
    const [ti] = result.adapters?.adapters ?? [];
    assert.equal(ti.kind, AdapterKind.TEXTUAL_INVERSION);
    assert.deepEqual(ti.tokens, ["<cat>", "<dog>"]);
    assert.equal(ti.file?.name, "learned_embeds.safetensors");
    assert.equal(ti.file?.sha256, sha256Hex(ti.file?.content ?? new Uint8Array()));
    assert.equal(result.hyperparameters?.textualInversion?.maxTrainSteps, 4);
    const withAdapter = await generate([ti]);
    assert.deepEqual(
      await generate([ti], "job-gen-again"),
      withAdapter,
      "the cached adapted model gives the same images",
    );
    const metrics = await generator.metrics();
    const lookups = (result: string) =>
      metricValue(metrics, "diffda_generation_adapter_cache_lookups_total", { result }) ?? 0;
    assert.ok(lookups("miss") >= 1 && lookups("hit") >= 1, metrics);
    // Without the adapter the tokens are unknown words: the prompts encode differently, so do the images.
    const without = await generate([]);
    assert.notDeepEqual(without, withAdapter);
  });

  it("runs TI+LoRA (from scratch and from a TI adapter), text-encoder LoRA and full UNet; generation uses each result", async () => {
    const tiLora = await finetune(ft, { ...base, spec: { ...spec, method: FinetuneMethod.TI_LORA } });
    assert.equal(tiLora.result.steps, 4 + 3);
    const kinds = (r: FinetuneResult) => r.adapters?.adapters.map((a) => a.kind);
    assert.deepEqual(kinds(tiLora.result), [AdapterKind.TEXTUAL_INVERSION, AdapterKind.UNET_LORA]);
    const lora = tiLora.result.adapters?.adapters[1];
    assert.deepEqual(
      [lora?.loraRank, lora?.loraAlpha, lora?.file?.name],
      [2, 2, "pytorch_lora_weights.safetensors"],
    );
    await generate(tiLora.result.adapters?.adapters ?? []);

    const ti = tiLora.result.adapters?.adapters[0] as Adapter;
    const fromTi = await finetune(ft, {
      ...base,
      spec: { ...spec, method: FinetuneMethod.TI_LORA, initAdapters: [ti] },
    });
    assert.equal(fromTi.result.steps, 3, "the TI stage is skipped");
    assert.deepEqual(
      fromTi.result.adapters?.adapters[0].file?.sha256,
      ti.file?.sha256,
      "the given tokens stay frozen",
    );

    const te = await finetune(ft, { ...base, spec: { ...spec, method: FinetuneMethod.TEXT_ENCODER_LORA } });
    assert.deepEqual(kinds(te.result), [AdapterKind.TEXT_ENCODER_LORA]);
    const full = await finetune(ft, { ...base, spec: { ...spec, method: FinetuneMethod.FULL_UNET } });
    assert.deepEqual(kinds(full.result), [AdapterKind.FULL_UNET]);
    assert.equal(full.result.steps, 2);
    const plain = await generate([]);
    assert.notDeepEqual(await generate(te.result.adapters?.adapters ?? []), plain);
    assert.notDeepEqual(await generate(full.result.adapters?.adapters ?? []), plain);

    const none = await finetune(ft, { ...base, spec: { ...spec, method: FinetuneMethod.NONE } });
    assert.deepEqual([none.result.steps, none.result.adapters?.adapters.length], [0, 0]);
  });

  it("fine-tunes from a chunked upload to the same adapter as inline", async () => {
    const images = base.images ?? [];
    async function* upload(): AsyncGenerator<Init<typeof FinetuneUploadRequestSchema>> {
      yield { payload: { case: "header", value: { spec, imageCount: images.length } } };
      for (let i = 0; i < images.length; i += 4)
        yield { payload: { case: "chunk", value: { offset: i, images: images.slice(i, i + 4) } } };
    }
    let uploaded: FinetuneResult | undefined;
    for await (const r of ft.finetuneUpload(upload()))
      if (r.event.case === "result") uploaded = r.event.value;
    const inline = await finetune(ft, base);
    assert.equal(
      uploaded?.adapters?.adapters[0].file?.sha256,
      inline.result.adapters?.adapters[0].file?.sha256,
    );
    async function* short(): AsyncGenerator<Init<typeof FinetuneUploadRequestSchema>> {
      yield { payload: { case: "header", value: { spec, imageCount: images.length + 1 } } };
      yield { payload: { case: "chunk", value: { offset: 0, images } } };
    }
    const truncated = await rpcError(
      (async () => {
        for await (const _ of ft.finetuneUpload(short())) {
          // drain
        }
      })(),
    );
    assert.deepEqual([truncated.code, truncated.grpcCode], ["invalid_stream", 3]);
  });

  it("rejects bad requests with INVALID_ARGUMENT naming the field", async () => {
    const h = (spec.hyperparameters ?? {}) as Init<typeof FinetuneHyperparametersSchema>;
    const cases: [FinetuneInit, string][] = [
      [{ ...base, spec: undefined }, "spec"],
      [{ ...base, spec: { ...spec, method: FinetuneMethod.UNSPECIFIED } }, "spec.method"],
      [{ ...base, spec: { ...spec, method: 17 as FinetuneMethod } }, "spec.method"],
      [{ ...base, spec: { ...spec, baseModel: { name: "" } } }, "spec.base_model.name"],
      [
        { ...base, spec: { ...spec, classes: [{ name: "cat" }, { name: "dog", token: "<dog>" }] } },
        "spec.classes[0].token",
      ],
      [
        {
          ...base,
          spec: {
            ...spec,
            classes: [
              { name: "cat", token: "<x>" },
              { name: "dog", token: "<x>" },
            ],
          },
        },
        "spec.classes[1].token",
      ],
      [
        { ...base, spec: { ...spec, hyperparameters: { ...h, batchSize: 0 } } },
        "spec.hyperparameters.batch_size",
      ],
      [
        { ...base, spec: { ...spec, hyperparameters: { ...h, textualInversion: { maxTrainSteps: 0 } } } },
        "spec.hyperparameters.textual_inversion.max_train_steps",
      ],
      [
        { ...base, spec: { ...spec, hyperparameters: { ...h, templates: ["no slot"] } } },
        "spec.hyperparameters.templates[0]",
      ],
      [
        {
          ...base,
          spec: {
            ...spec,
            method: FinetuneMethod.TI_LORA,
            initAdapters: [
              { kind: AdapterKind.UNET_LORA, file: { name: "a.safetensors", content: new Uint8Array(9) } },
            ],
          },
        },
        "spec.init_adapters[0].kind",
      ],
      [{ ...base, images: [] }, "images"],
      [{ ...base, images: [{ ...(base.images ?? [])[0], label: 5 }] }, "images[0].label"],
      [{ ...base, images: [{ label: 0 }] }, "images[0].image"],
    ];
    for (const [request, field] of cases) {
      const error = await rpcError(finetune(ft, request));
      assert.equal(error.grpcCode, 3, `${field}: ${error.code} ${error.message}`);
      assert.equal(error.details.field, field, error.message);
    }
    const unknown = await rpcError(finetune(ft, { ...base, spec: { ...spec, baseModel: { name: "sd15" } } }));
    assert.deepEqual([unknown.code, unknown.grpcCode], ["model_not_found", 5]);
  });
});
