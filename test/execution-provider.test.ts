/**
 * EXECUTION_PROVIDER=cuda in each compute service, started as its own process: on a machine where the CUDA
 * provider cannot load (this one: the CPU build of onnxruntime-node) the service logs one structured
 * `execution_provider_fallback` warning, turns SERVING and answers a real call on the CPU. Where CUDA does
 * load, the same test expects the service to say it runs on cuda and to serve just as well.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ClassifierService } from "../shared/gen/diffda/classifier/v1/classifier_pb.js";
import type { Artifact } from "../shared/gen/diffda/common/v1/artifact_pb.js";
import { FinetuneService } from "../shared/gen/diffda/finetune/v1/finetune_pb.js";
import { GenerationService } from "../shared/gen/diffda/generation/v1/generation_pb.js";
import type { RpcChannel } from "../shared/rpc/index.js";
import { probeProvider } from "../shared/service/execution-provider.js";
import { pngTestImage } from "../shared/testing/png-image.js";
import { type LogLine, type ServiceProcess, startService } from "../shared/testing/service-process.js";
import { classifierSpec, labelledSet } from "./support/classes.js";
import { connect } from "./support/clients.js";
import { TINY, type TinyModels, tinyInversionSpec, tinyModels } from "./support/models.js";

const SERVICES = ["generation", "finetune", "classifier"] as const;

describe("EXECUTION_PROVIDER=cuda: fall back to the CPU with a log line, and serve", () => {
  let models: TinyModels;
  let cudaUnusable: string | undefined;
  const running = new Map<string, ServiceProcess>();
  const channels: RpcChannel[] = [];

  before(async () => {
    // What the services' own boot probe will find on this machine.
    cudaUnusable = await probeProvider("cuda");
    models = await tinyModels();
    await Promise.all(
      SERVICES.map(async (name) => {
        const service = await startService(name, {
          EXECUTION_PROVIDER: "cuda",
          ORT_THREADS: "1",
          ...(name === "classifier" ? {} : { MODEL_DIR: models.root }),
        });
        running.set(name, service); // stopped in after() even if another one fails to start
        await service.ready(120_000);
      }),
    );
  });

  after(async () => {
    for (const channel of channels) channel.close();
    const codes = await Promise.all([...running.values()].map((s) => s.stop()));
    await models?.remove();
    assert.deepEqual(
      codes,
      [...running.keys()].map(() => 0),
    );
  });

  const client = <S extends Parameters<typeof connect>[0]>(service: S, name: string) => {
    const { client, channel } = connect(service, (running.get(name) as ServiceProcess).address);
    channels.push(channel);
    return client;
  };

  for (const name of SERVICES) {
    it(`${name} says which provider it runs on, once, before it turns SERVING`, () => {
      const service = running.get(name) as ServiceProcess;
      const said = service.logs.filter(
        (l: LogLine) => l.event === "execution_provider" || l.event === "execution_provider_fallback",
      );
      assert.equal(said.length, 1, JSON.stringify(said));
      const [line] = said;
      const ready = service.logs.findIndex((l) => l.event === "ready");
      assert.ok(service.logs.indexOf(line) < ready, "chosen before the service turned SERVING");
      assert.equal(line.configured, "cuda");
      if (cudaUnusable === undefined) {
        assert.equal(line.event, "execution_provider");
        assert.equal(line.using, "cuda");
      } else {
        assert.equal(line.event, "execution_provider_fallback");
        assert.equal(line.level, "warn");
        assert.equal(line.using, "cpu");
        assert.equal(line.reason, cudaUnusable, "the probe's reason is logged");
      }
    });
  }

  it("generation serves a shard", async () => {
    let images = 0;
    let completed = false;
    for await (const response of client(GenerationService, "generation").generateShard({
      jobId: "job-ep",
      count: 2,
      seed: 5n,
      samplesPerSource: 1,
      model: { baseModel: { name: TINY } },
      classes: [{ name: "cat" }, { name: "dog" }],
      sources: [
        { label: 0, sourceIndex: 0 },
        { label: 1, sourceIndex: 1 },
      ],
      sampling: { numInferenceSteps: 2 },
      method: { case: "textToImage", value: {} },
    })) {
      if (response.event.case === "image") images++;
      if (response.event.case === "completed") completed = true;
    }
    assert.equal(images, 2);
    assert.ok(completed);
  });

  it("finetune serves a textual-inversion run", async () => {
    const images = await Promise.all(
      [0, 1].map(async (i) => ({ image: await pngTestImage(32, 70 + i), label: i, sourceIndex: i })),
    );
    let steps = -1;
    for await (const response of client(FinetuneService, "finetune").finetune({
      spec: tinyInversionSpec("job-ep", { steps: 2, batchSize: 2, seed: 1n }),
      images,
    })) {
      if (response.event.case === "result") steps = response.event.value.steps;
    }
    assert.equal(steps, 2);
  });

  it("classifier trains and evaluates", async () => {
    const classifier = client(ClassifierService, "classifier");
    let checkpoint: Artifact | undefined;
    for await (const response of classifier.train({
      spec: classifierSpec("job-ep", { epochs: 1, batchSize: 6, seed: 1n }),
      realImages: await labelledSet(2, 1),
    })) {
      if (response.event.case === "result") checkpoint = response.event.value.checkpoint;
    }
    assert.ok(checkpoint, "training returned a checkpoint");
    const { metrics } = await classifier.evaluate({
      spec: { jobId: "job-ep", checkpoint },
      images: await labelledSet(1, 2),
    });
    assert.equal(metrics?.sampleCount, 3);
  });
});
