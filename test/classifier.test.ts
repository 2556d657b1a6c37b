/**
 * ClassifierService over a real socket, the service started as its own process: training on real +
 * synthetic sets under every utilization strategy, evaluation, the chunked upload variants, bad requests.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  ClassifierService,
  type EvaluateUploadRequestSchema,
  TraditionalAugmentation,
  type TrainHyperparametersSchema,
  type TrainRequestSchema,
  type TrainResponse,
  type TrainSpecSchema,
  type TrainUploadRequestSchema,
  UtilizationMode,
} from "../shared/gen/diffda/classifier/v1/classifier_pb.js";
import type { Client } from "../shared/rpc/index.js";
import { sha256Hex } from "../shared/service/wire/index.js";
import { type ServiceProcess, startService } from "../shared/testing/service-process.js";
import { classImage, classifierSpec, labelledSet } from "./support/classes.js";
import { connect, type Init, rpcError } from "./support/clients.js";

type TrainInit = Init<typeof TrainRequestSchema>;
type SpecInit = Init<typeof TrainSpecSchema>;

async function train(client: Client<typeof ClassifierService>, request: TrainInit) {
  const events: TrainResponse["event"][] = [];
  for await (const response of client.train(request)) events.push(response.event);
  const last = events[events.length - 1];
  assert.equal(last?.case, "result");
  return { events, result: last.value };
}

describe("ClassifierService (own process, real socket)", () => {
  let service: ServiceProcess;
  let client: Client<typeof ClassifierService>;
  let close: () => void;
  let base: TrainInit;
  let test: Awaited<ReturnType<typeof labelledSet>>;

  before(async () => {
    service = await startService("classifier", {});
    await service.ready();
    ({
      client,
      channel: { close },
    } = connect(ClassifierService, service.address));
    const real = await labelledSet(6, 1);
    // Two synthetic variants per real image: one intra-class, one inter-class edit towards the next class.
    const synthetic = [];
    for (const r of real) {
      synthetic.push({
        image: await classImage(r.label, 5000 + r.sourceIndex),
        label: r.label,
        sourceIndex: r.sourceIndex,
      });
      const target = (r.label + 1) % 3;
      synthetic.push({
        image: await classImage(target, 7000 + r.sourceIndex),
        label: target,
        sourceIndex: r.sourceIndex,
        interClass: { sourceLabel: r.label, strength: 0.8 },
      });
    }
    test = await labelledSet(4, 2);
    base = {
      spec: classifierSpec("job-c", { epochs: 2, batchSize: 8, seed: 3n, learningRate: 0.01 }),
      realImages: real,
      syntheticImages: synthetic,
    };
  });

  after(async () => {
    close?.();
    assert.equal(await service?.stop(), 0);
  });

  it("trains with every utilization strategy, streams progress and returns a checkpoint that evaluates", async () => {
    const spec = (base.spec ?? {}) as SpecInit;
    const runs: [string, TrainInit][] = [
      ["real only", { ...base, syntheticImages: [] }],
      ["FC", { ...base, spec: { ...spec, utilization: { mode: UtilizationMode.FULL_CONCATENATION } } }],
      ["FR", { ...base, spec: { ...spec, utilization: { mode: UtilizationMode.FULL_REPLACEMENT } } }],
      [
        "LRR",
        {
          ...base,
          spec: {
            ...spec,
            utilization: { mode: UtilizationMode.LOCAL_RANDOM_REPLACEMENT, replaceProbability: 0.5 },
          },
        },
      ],
      [
        "GRR",
        {
          ...base,
          spec: {
            ...spec,
            utilization: { mode: UtilizationMode.GLOBAL_RANDOM_REPLACEMENT, replaceProbability: 0.3 },
          },
        },
      ],
      [
        "FC + soft labels + MixUp",
        {
          ...base,
          spec: {
            ...spec,
            utilization: {
              mode: UtilizationMode.FULL_CONCATENATION,
              softLabelGamma: 0.5,
              syntheticPerReal: 2,
            },
            traditionalAugmentation: TraditionalAugmentation.MIXUP,
            hyperparameters: { epochs: 2, batchSize: 8, seed: 3n, mixAlpha: 0.4 },
          },
        },
      ],
    ];
    const realCount = base.realImages?.length ?? 0;
    for (const [name, request] of runs) {
      const { events, result } = await train(client, request);
      const steps = events.filter((e) => e.case === "progress" && e.value.stage === "train");
      assert.ok(steps.length >= 1, name);
      assert.ok(
        steps.every((e) => e.case === "progress" && Number.isFinite(e.value.loss)),
        name,
      );
      assert.equal(result.epochs.length, 2, name);
      assert.ok(
        result.epochs.every((e) => e.trainAccuracy >= 0 && e.trainAccuracy <= 1),
        name,
      );
      const checkpoint = result.checkpoint;
      assert.ok(checkpoint && checkpoint.sha256 === sha256Hex(checkpoint.content), name);
      assert.ok(result.parameterCount > 0n);
      assert.equal(result.hyperparameters?.epochs, 2);
      // Samples per epoch follow the strategy: FC trains on real + synthetic, the others on one set's size.
      const perEpoch = name.startsWith("FC") ? realCount * 3 : name === "FR" ? realCount * 2 : realCount;
      const lastStep = steps[steps.length - 1];
      // 8 per batch, the last partial batch dropped once an epoch holds a full one.
      const totalSteps = 2 * Math.floor(perEpoch / 8);
      assert.equal(lastStep.case === "progress" && lastStep.value.totalSteps, totalSteps, name);
      assert.deepEqual([result.steps, result.imagesSeen], [BigInt(totalSteps), BigInt(totalSteps * 8)], name);
      const { metrics } = await client.evaluate({ spec: { jobId: "job-c", checkpoint }, images: test });
      assert.equal(metrics?.sampleCount, test.length);
      assert.equal(metrics?.confusionMatrix?.classCount, 3);
      assert.equal(
        metrics?.confusionMatrix?.counts.reduce((a, b) => a + b, 0),
        test.length,
      );
      assert.equal(metrics?.perClassAccuracy.length, 3);
      assert.ok(Number.isFinite(metrics?.meanLoss));
    }
    // Defaults are echoed: SGD when no optimizer is named, the batch sized to the 18 real images.
    const { result } = await train(client, {
      ...base,
      syntheticImages: [],
      spec: { ...spec, hyperparameters: { epochs: 1 } },
    });
    assert.equal(result.hyperparameters?.optimizer, 1);
    assert.equal(result.hyperparameters?.batchSize, 4);
    assert.equal(realCount, 18);
    assert.deepEqual([result.steps, result.imagesSeen], [4n, 16n], "4 batches of 4, 2 images dropped");
  });

  it("learns the easy classes: the loss falls and the test top-1 beats chance by far", async () => {
    const spec = (base.spec ?? {}) as SpecInit;
    const { result } = await train(client, {
      ...base,
      syntheticImages: [],
      spec: {
        ...spec,
        hyperparameters: { epochs: 15, batchSize: 6, seed: 9n, learningRate: 0.02, optimizer: 2 },
      },
    });
    const losses = result.epochs.map((e) => e.trainLoss);
    assert.ok(losses[losses.length - 1] < losses[0] * 0.7, `losses ${losses}`);
    assert.ok((result.cpuSeconds ?? 0) > 0, "training reports the CPU it cost");
    const { metrics, cpuSeconds } = await client.evaluate({
      spec: { checkpoint: result.checkpoint },
      images: test,
    });
    assert.ok((metrics?.top1Accuracy ?? 0) >= 0.75, `top-1 ${metrics?.top1Accuracy}`);
    assert.ok((cpuSeconds ?? 0) > 0, "evaluation reports the CPU it cost");
    // Each image's label probability (what filtering ranks by), of three classes: at least a third where
    // the arg-max is its label, at most a half where another class beats it.
    const probabilities = metrics?.labelProbabilities ?? [];
    assert.equal(probabilities.length, test.length);
    probabilities.forEach((p, i) => {
      assert.ok(p >= 0 && p <= 1, `${p}`);
      const right = metrics?.predictions[i] === test[i].label;
      assert.ok(
        right ? p >= 1 / 3 - 1e-6 : p <= 0.5 + 1e-6,
        `image ${i}: p ${p}, predicted ${metrics?.predictions[i]}`,
      );
    });
  });

  it("fine-tunes from a pretrained backbone when the spec names one, and says which ran", async () => {
    const spec = (base.spec ?? {}) as SpecInit;
    const run = (backbone?: string) =>
      train(client, {
        ...base,
        syntheticImages: [],
        spec: {
          ...spec,
          architecture: "resnet8",
          ...(backbone === undefined ? {} : { backbone }),
          hyperparameters: { epochs: 4, batchSize: 6, seed: 9n, learningRate: 0.003, optimizer: 2 },
        },
      });
    const scratch = await run();
    assert.equal(scratch.result.backbone, "scratch");
    const tuned = await run("tinted-digits-resnet8");
    assert.equal(tuned.result.backbone, "tinted-digits-resnet8");
    const losses = tuned.result.epochs.map((e) => e.trainLoss);
    assert.ok(losses[losses.length - 1] < losses[0], `losses ${losses}`);
    assert.notDeepEqual(
      tuned.result.checkpoint?.sha256,
      scratch.result.checkpoint?.sha256,
      "the same seed from other weights",
    );
    const { metrics } = await client.evaluate({
      spec: { checkpoint: tuned.result.checkpoint },
      images: test,
    });
    assert.ok((metrics?.top1Accuracy ?? 0) > 1 / 3, `top-1 ${metrics?.top1Accuracy}`);
  });

  it("trains and evaluates from chunked uploads with the same result as inline", async () => {
    const spec = {
      ...(base.spec as SpecInit),
      utilization: { mode: UtilizationMode.LOCAL_RANDOM_REPLACEMENT },
    };
    const real = base.realImages ?? [];
    const synthetic = base.syntheticImages ?? [];
    async function* upload(): AsyncGenerator<Init<typeof TrainUploadRequestSchema>> {
      yield {
        payload: {
          case: "header",
          value: { spec, realCount: real.length, syntheticCount: synthetic.length },
        },
      };
      for (let i = 0; i < synthetic.length; i += 10) {
        yield {
          payload: { case: "syntheticChunk", value: { offset: i, images: synthetic.slice(i, i + 10) } },
        };
        if (i < real.length)
          yield { payload: { case: "realChunk", value: { offset: i, images: real.slice(i, i + 10) } } };
      }
    }
    let uploaded: { checkpoint?: { sha256: string } } | undefined;
    let uploadProgress = 0;
    for await (const r of client.trainUpload(upload())) {
      if (r.event.case === "progress" && r.event.value.stage === "upload") uploadProgress++;
      if (r.event.case === "result") uploaded = r.event.value;
    }
    assert.ok(uploadProgress > 0);
    const inline = await train(client, { ...base, spec });
    assert.equal(uploaded?.checkpoint?.sha256, inline.result.checkpoint?.sha256, "deterministic in the seed");
    async function* evaluation(): AsyncGenerator<Init<typeof EvaluateUploadRequestSchema>> {
      yield {
        payload: {
          case: "header",
          value: { spec: { checkpoint: inline.result.checkpoint, batchSize: 5 }, imageCount: test.length },
        },
      };
      for (let i = 0; i < test.length; i += 4)
        yield { payload: { case: "chunk", value: { offset: i, images: test.slice(i, i + 4) } } };
    }
    const viaUpload = await client.evaluateUpload(evaluation());
    const direct = await client.evaluate({ spec: { checkpoint: inline.result.checkpoint }, images: test });
    assert.deepEqual(viaUpload.metrics?.confusionMatrix?.counts, direct.metrics?.confusionMatrix?.counts);
    // A chunk out of order and a short upload break the stream protocol.
    async function* gap(): AsyncGenerator<Init<typeof EvaluateUploadRequestSchema>> {
      yield {
        payload: { case: "header", value: { spec: { checkpoint: inline.result.checkpoint }, imageCount: 8 } },
      };
      yield { payload: { case: "chunk", value: { offset: 4, images: test.slice(0, 4) } } };
    }
    const outOfOrder = await rpcError(client.evaluateUpload(gap()));
    assert.deepEqual([outOfOrder.code, outOfOrder.details.field], ["invalid_stream", "chunk.offset"]);
    async function* short(): AsyncGenerator<Init<typeof EvaluateUploadRequestSchema>> {
      yield {
        payload: { case: "header", value: { spec: { checkpoint: inline.result.checkpoint }, imageCount: 8 } },
      };
      yield { payload: { case: "chunk", value: { offset: 0, images: test.slice(0, 4) } } };
    }
    const truncated = await rpcError(client.evaluateUpload(short()));
    assert.deepEqual([truncated.code, truncated.grpcCode], ["invalid_stream", 3]);
    // A chunk before the header, a second header and an empty stream too (as docs/rpc.md says).
    async function* chunkFirst(): AsyncGenerator<Init<typeof EvaluateUploadRequestSchema>> {
      yield { payload: { case: "chunk", value: { offset: 0, images: test.slice(0, 4) } } };
    }
    async function* twoHeaders(): AsyncGenerator<Init<typeof EvaluateUploadRequestSchema>> {
      const header = { spec: { checkpoint: inline.result.checkpoint }, imageCount: 8 };
      yield { payload: { case: "header", value: header } };
      yield { payload: { case: "header", value: header } };
    }
    async function* nothing(): AsyncGenerator<Init<typeof EvaluateUploadRequestSchema>> {}
    for (const stream of [chunkFirst, twoHeaders, nothing]) {
      const broken = await rpcError(client.evaluateUpload(stream()));
      assert.deepEqual([broken.code, broken.details.field], ["invalid_stream", "header"], stream.name);
    }
  });

  it("rejects bad requests with INVALID_ARGUMENT naming the field", async () => {
    const spec = (base.spec ?? {}) as SpecInit;
    const h = (spec.hyperparameters ?? {}) as Init<typeof TrainHyperparametersSchema>;
    const real = base.realImages ?? [];
    const synthetic = base.syntheticImages ?? [];
    const cases: [TrainInit, string][] = [
      [{ ...base, spec: undefined }, "spec"],
      [{ ...base, spec: { ...spec, architecture: "vgg99" } }, "spec.architecture"],
      [{ ...base, spec: { ...spec, backbone: "imagenet-resnet50" } }, "spec.backbone"],
      [{ ...base, spec: { ...spec, backbone: "tinted-digits-resnet8" } }, "spec.backbone"],
      [{ ...base, spec: { ...spec, classes: [] } }, "spec.classes"],
      [
        { ...base, spec: { ...spec, utilization: { mode: UtilizationMode.UNSPECIFIED } } },
        "spec.utilization.mode",
      ],
      [{ ...base, spec: { ...spec, utilization: { mode: 42 as UtilizationMode } } }, "spec.utilization.mode"],
      [
        {
          ...base,
          spec: {
            ...spec,
            utilization: { mode: UtilizationMode.LOCAL_RANDOM_REPLACEMENT, replaceProbability: 1.5 },
          },
        },
        "spec.utilization.replace_probability",
      ],
      [
        { ...base, spec: { ...spec, traditionalAugmentation: TraditionalAugmentation.UNSPECIFIED } },
        "spec.traditional_augmentation",
      ],
      [{ ...base, spec: { ...spec, hyperparameters: { ...h, epochs: 0 } } }, "spec.hyperparameters.epochs"],
      [
        { ...base, spec: { ...spec, hyperparameters: { ...h, learningRate: -1 } } },
        "spec.hyperparameters.learning_rate",
      ],
      [
        { ...base, spec: { ...spec, hyperparameters: { ...h, seed: 2n ** 62n } } },
        "spec.hyperparameters.seed",
      ],
      [{ ...base, spec: { ...spec, imageSize: 4 } }, "spec.image_size"],
      [base, "synthetic_images"],
      [{ ...base, realImages: [], syntheticImages: [] }, "real_images"],
      [
        { ...base, syntheticImages: [], realImages: [{ ...real[0], sourceIndex: 5 }] },
        "real_images[0].source_index",
      ],
      [{ ...base, syntheticImages: [], realImages: [{ ...real[0], label: 3 }] }, "real_images[0].label"],
      [
        { ...base, syntheticImages: [], realImages: [{ ...real[0], image: undefined }] },
        "real_images[0].image",
      ],
      [
        {
          ...base,
          spec: { ...spec, utilization: { mode: UtilizationMode.FULL_CONCATENATION } },
          syntheticImages: [{ ...synthetic[0], softLabel: [0.5, 0.5] }],
        },
        "synthetic_images[0].soft_label",
      ],
      [
        {
          ...base,
          spec: { ...spec, utilization: { mode: UtilizationMode.FULL_CONCATENATION } },
          syntheticImages: [{ ...synthetic[0], sourceIndex: 999 }],
        },
        "synthetic_images[0].source_index",
      ],
    ];
    for (const [request, field] of cases) {
      const error = await rpcError(train(client, request));
      assert.equal(error.grpcCode, 3, `${field}: ${error.code} ${error.message}`);
      assert.equal(error.details.field, field, error.message);
    }
    const garbage = await rpcError(
      client.evaluate({
        spec: { checkpoint: { name: "c.safetensors", content: new Uint8Array(32) } },
        images: test,
      }),
    );
    assert.deepEqual([garbage.grpcCode, garbage.details.field], [3, "spec.checkpoint.content"]);
    const mismatch = await rpcError(
      client.evaluate({
        spec: { checkpoint: { name: "c.safetensors", content: new Uint8Array(32), sha256: "a".repeat(64) } },
        images: test,
      }),
    );
    assert.deepEqual(
      [mismatch.code, mismatch.details.field],
      ["checksum_mismatch", "spec.checkpoint.sha256"],
    );
  });
});
