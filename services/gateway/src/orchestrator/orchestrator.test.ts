import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { FinetuneMethod } from "../../../../shared/gen/diffda/finetune/v1/finetune_pb.js";
import { readZip } from "../archive/zip-reader.js";
import type { JobStore } from "../store/index.js";
import { idemKey, type TestGateway } from "../test-support.js";
import { type ComputeGateway, startComputeGateway } from "../testing/compute-gateway.js";
import type { FakeCompute } from "../testing/fake-compute.js";
import type { TrainOutput } from "./handlers/index.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("orchestrator: a job runs end to end over fake compute services", () => {
  let stack: ComputeGateway;
  let store: JobStore;
  let gw: TestGateway;
  let compute: FakeCompute;

  before(async () => {
    // Two replicas, "a" and "b"; the first call of shard 0 dies after two images.
    // The REST app and the orchestrator share the store; the app aborts local runs on cancel.
    stack = await startComputeGateway({
      compute: {
        replicas: ["a", "b"],
        perClassAccuracy: (top1) => [top1, Number.NaN],
        failShardOnce: { shardIndex: 0, afterImages: 2 },
      },
      orchestrator: { concurrency: { generate: 3, train: 2, evaluate: 2 } },
      app: () => ({ authMode: "loopback-open" }),
    });
    ({ store, gw, compute } = stack);
  });

  after(() => stack?.close());

  async function waitFinal(id: string, timeoutMs = 30_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const res = await gw.app.inject({ method: "GET", url: `/v1/jobs/${id}` });
      if (["succeeded", "failed", "cancelled"].includes(res.json().state)) return res.json();
      if (Date.now() > deadline)
        assert.fail(`job still ${res.json().state}: ${JSON.stringify(res.json().tasks)}`);
      await sleep(50);
    }
  }

  test("finetune → shards over two replicas (one dies mid-shard) → train → evaluate → summarize", async () => {
    const dataset = await gw.app.inject({
      method: "POST",
      url: "/v1/datasets",
      headers: { "idempotency-key": idemKey() },
      payload: { builtin: "fashion-mnist", shots: 2 },
    });
    assert.equal(dataset.statusCode, 201, dataset.body);
    const submitted = await gw.app.inject({
      method: "POST",
      url: "/v1/jobs",
      headers: { "idempotency-key": idemKey() },
      payload: {
        datasetId: dataset.json().id,
        methods: [{ preset: "diff-mix" }, { preset: "real-guidance" }],
        baselines: ["no-augmentation"],
        seeds: [0, 1],
        shardSize: 8,
      },
    });
    assert.equal(submitted.statusCode, 201, submitted.body);
    const job = await waitFinal(submitted.json().id);
    assert.equal(job.state, "succeeded", JSON.stringify(job.error));

    // Fine-tuning ran once, for Diff-Mix only, with a token per class.
    const finetuneCalls = compute.calls.finetune;
    const shardCalls = compute.calls.shards;
    assert.equal(finetuneCalls.length, 1);
    assert.equal(finetuneCalls[0].spec?.method, FinetuneMethod.TI_LORA);
    assert.deepEqual(
      finetuneCalls[0].spec?.classes.map((c) => c.token),
      ["<shoe>", "<bag>"],
    );
    assert.equal(finetuneCalls[0].images.length, 4);

    // 4 train images × 5 per real = 20 samples per run = 3 shards of ≤ 8; 2 methods × 2 seeds.
    const diffMixShards = shardCalls.filter((c) => c.request.method.case === "img2imgInterClass");
    assert.ok(
      diffMixShards.every((c) => c.request.model?.adapters.length === 1),
      "adapters travel with the shard",
    );
    assert.ok(diffMixShards.every((c) => c.request.classes[0].token === "<shoe>"));
    assert.deepEqual(
      new Set(shardCalls.map((c) => c.replica)),
      new Set(["a", "b"]),
      "shards are spread over replicas",
    );
    const shard0 = shardCalls.filter((c) => c.request.shardIndex === 0);
    assert.equal(shard0.length, 2, "the failed shard ran twice");
    assert.notEqual(shard0[0].replica, shard0[1].replica, "the retry moved to the other replica");
    assert.deepEqual(
      shard0[1].request.skipSampleIndices,
      [0, 1],
      "the retry skipped the samples already stored",
    );

    // The default step budget: every run (Real-Guidance's epochs hold 5× the images) trains the
    // no-augmentation baseline's steps at its batch size — 4 images, batch 4, the recipe's 300 steps.
    const budgets = compute.calls.train.map((call) => {
      const h = call.spec?.hyperparameters;
      return [h?.maxSteps, h?.batchSize, h?.epochs];
    });
    assert.equal(budgets.length, 6);
    for (const budget of budgets) assert.deepEqual(budget, [300, 4, undefined]);

    const synthetic = await store.artifacts.list(job.id, { prefix: "synthetic/", limit: 1000 });
    assert.equal(synthetic.length, 80, "each sample stored exactly once");
    const checkpoints = await store.artifacts.list(job.id, { prefix: "checkpoint/" });
    assert.equal(checkpoints.length, 6);

    // Results: synthetic-count-driven accuracies from the fake classifier.
    const result = job.result;
    assert.deepEqual(result.classes, ["shoe", "bag"]);
    // The fake replicas generate at the dataset's 4×4: the sizes are stated, and no resize is flagged.
    assert.deepEqual(result.resolution.generation["diff-mix"], { height: 4, width: 4 });
    assert.deepEqual(result.resolution.dataset, { height: 4, width: 4 });
    assert.ok(!result.warnings.some((w: { code: string }) => w.code === "resized"));
    const byLabel = Object.fromEntries(result.methods.map((m: { label: string }) => [m.label, m]));
    assert.deepEqual(Object.keys(byLabel), ["no-augmentation", "diff-mix", "real-guidance"]);
    const base = byLabel["no-augmentation"];
    assert.deepEqual(
      base.runs.map((r: { top1Accuracy: number }) => r.top1Accuracy),
      [0.5, 0.51],
    );
    assert.ok(Math.abs(base.top1Accuracy.mean - 0.505) < 1e-9);
    assert.ok(Math.abs(base.top1Accuracy.std - Math.SQRT1_2 * 0.01) < 1e-9);
    assert.equal(base.gainOverBaseline, null);
    assert.equal(base.generation, null);
    const mix = byLabel["diff-mix"];
    assert.ok(Math.abs(mix.gainOverBaseline.mean - 0.02) < 1e-9, JSON.stringify(mix.gainOverBaseline));
    assert.equal(mix.gainOverBaseline.n, 2);
    // The fake classifier gets every test image right for both: a paired interval of exactly 0, which
    // the result (read back over REST, through the response schema) flags as unresolved.
    assert.deepEqual(mix.gainOverBaseline.interval, {
      low: 0,
      high: 0,
      level: 0.95,
      seeds: 2,
      images: result.testImages,
      resolved: false,
    });
    assert.ok(
      result.warnings.some(
        (w: { code: string; method?: string }) => w.code === "gain_unresolved" && w.method === "diff-mix",
      ),
    );
    assert.deepEqual(mix.perClassAccuracy.mean.length, 2);
    assert.equal(mix.perClassAccuracy.mean[1], null, "NaN per-class accuracy becomes null");
    assert.equal(mix.runs[0].syntheticImages, 20);
    // Each run's compute and fit, as the fake classifier reported them.
    const { epochs, batchSize, steps, imagesSeen, finalTrainAccuracy, backbone } = mix.runs[0];
    assert.deepEqual(
      { epochs, batchSize, steps, imagesSeen, finalTrainAccuracy, backbone },
      { epochs: 1, batchSize: 4, steps: 3, imagesSeen: 12, finalTrainAccuracy: 0.5, backbone: "scratch" },
    );
    // The train outputs keep the hyperparameters the classifier echoed, each run its own seed.
    const trained = (await store.tasks.list(job.id))
      .filter((t) => t.kind === "train")
      .map((t) => (t.output as TrainOutput).hyperparameters);
    assert.ok(trained.every((h) => h?.batchSize === 4 && h.epochs === 1));
    assert.deepEqual(new Set(trained.map((h) => h?.seed)), new Set([0, 1]));
    assert.equal(mix.generation.images, 40);
    assert.ok(mix.generation.imagesPerSecond > 0);
    for (const stage of ["finetune", "generate", "train", "evaluate"])
      assert.ok(result.stages[stage]?.tasks > 0, stage);

    // CPU seconds as the services reported them. Shard 0 (Diff-Mix, seed 0) stored 2 images in its failed
    // attempt, whose CPU no one reported: Diff-Mix's generation counts 38 of its 40 images.
    assert.deepEqual(
      Object.fromEntries(
        Object.entries(result.stages).map(([k, v]) => [k, (v as { cpuSeconds: number }).cpuSeconds]),
      ),
      { finetune: 3, generate: (38 + 40) * 0.25, train: 6 * 2, evaluate: 6 * 0.125 },
    );
    assert.deepEqual(mix.cpuSeconds, {
      finetune: 3,
      generate: 38 * 0.25,
      train: 2 * 2,
      evaluate: 2 * 0.125,
      total: 3 + 38 * 0.25 + 4 + 0.25,
      perSyntheticImage: (38 * 0.25) / 40,
      perSyntheticImageWithFinetune: (3 + 38 * 0.25) / 40,
      finetuneSharedWith: [],
    });
    assert.equal(byLabel["real-guidance"].cpuSeconds.finetune, 0, "no fine-tuning: no cost");
    assert.equal(byLabel["real-guidance"].cpuSeconds.perSyntheticImage, 0.25);
    assert.equal(base.cpuSeconds.generate, 0);
    assert.equal(base.cpuSeconds.perSyntheticImage, null, "no synthetic image to divide by");
    assert.equal(base.cpuSeconds.total, 2 * 2 + 2 * 0.125);

    // Inter-class samples keep their soft-label facts.
    const sample = synthetic.find((a) => a.key.startsWith("synthetic/diff-mix/"));
    assert.ok(sample);
    const inter = (sample.meta as { interClass: { sourceLabel: number; strength: number } }).interClass;
    assert.equal(inter.sourceLabel, 0);
    assert.ok(Math.abs(inter.strength - 0.7) < 1e-6, "a float32 on the wire");

    // The archive holds every image and the manifest.
    const zip = await gw.app.inject({
      method: "GET",
      url: `/v1/jobs/${job.id}/synthetic.zip?method=diff-mix&seed=1`,
    });
    const entries = await readZip(zip.rawPayload, {
      maxEntries: 100,
      maxEntryBytes: 1 << 20,
      maxTotalBytes: 1 << 24,
      maxRatio: 1000,
    });
    assert.equal(entries.length, 21);

    // Progress reached the event log.
    const events = await store.events.since(job.id, 0, 10_000);
    assert.ok(events.some((e) => e.type === "task.progress"));
    assert.ok(events.some((e) => e.type === "task.retry_scheduled"));
    assert.equal(events.at(-1)?.type, "job.succeeded");

    const metrics = await gw.app.inject({ method: "GET", url: "/metrics" });
    assert.match(metrics.body, /diffda_generated_images_total 80/);
    assert.match(
      metrics.body,
      /diffda_job_stage_duration_seconds_count\{kind="generate",outcome="failed"\} 1/,
    );
  });

  test("a job's classifier backbone reaches the classifier service and its result", async () => {
    const dataset = await store.datasets.list({ limit: 1 });
    const trainsBefore = compute.calls.train.length;
    const submitted = await gw.app.inject({
      method: "POST",
      url: "/v1/jobs",
      headers: { "idempotency-key": idemKey() },
      payload: {
        datasetId: dataset.items[0].id,
        methods: [{ preset: "no-augmentation" }],
        baselines: [],
        classifier: { backbone: "tinted-digits-resnet8" },
      },
    });
    assert.equal(submitted.statusCode, 201, submitted.body);
    assert.deepEqual(
      submitted.json().spec.classifier,
      { backbone: "tinted-digits-resnet8", architecture: "resnet8" },
      "the backbone fixes the network",
    );
    const job = await waitFinal(submitted.json().id);
    assert.equal(job.state, "succeeded", JSON.stringify(job.error));
    const sent = compute.calls.train
      .slice(trainsBefore)
      .map((call) => call.spec)
      .filter((spec) => spec?.jobId === job.id);
    assert.deepEqual(
      sent.map((spec) => [spec?.backbone, spec?.architecture]),
      [["tinted-digits-resnet8", "resnet8"]],
    );
    assert.equal(job.result.methods[0].runs[0].backbone, "tinted-digits-resnet8");
    // The train task's stored output keeps it too.
    const trained = (await store.tasks.list(job.id)).find((t) => t.kind === "train");
    assert.ok(trained, "a train task");
    assert.equal((trained.output as TrainOutput).backbone, "tinted-digits-resnet8");
  });

  test("a generation-only job stores its synthetic set and trains no classifier", async () => {
    const dataset = await store.datasets.list({ limit: 1 });
    const trainsBefore = compute.calls.train.length;
    const evaluatesBefore = compute.calls.evaluate.length;
    const submit = (payload: Record<string, unknown>) =>
      gw.app.inject({
        method: "POST",
        url: "/v1/jobs",
        headers: { "idempotency-key": idemKey() },
        payload: { datasetId: dataset.items[0].id, kind: "generate", ...payload },
      });
    // A baseline, or asking for baselines, has nothing to do in such a job.
    const refused = await submit({ methods: [{ preset: "no-augmentation" }] });
    assert.equal(refused.statusCode, 422, refused.body);
    assert.equal(
      (await submit({ methods: [{ preset: "real-guidance" }], baselines: ["traditional"] })).statusCode,
      422,
    );
    const submitted = await submit({ methods: [{ preset: "real-guidance" }], seeds: [0, 1] });
    assert.equal(submitted.statusCode, 201, submitted.body);
    assert.equal(submitted.json().spec.kind, "generate");
    const job = await waitFinal(submitted.json().id);
    assert.equal(job.state, "succeeded", JSON.stringify(job.error));
    assert.equal(compute.calls.train.length, trainsBefore, "no classifier trained");
    assert.equal(compute.calls.evaluate.length, evaluatesBefore);
    // 4 train images × 5 per real × 2 seeds, every one stored and in the result.
    const synthetic = await store.artifacts.list(job.id, { prefix: "synthetic/", limit: 1000 });
    assert.equal(synthetic.length, 40);
    const [method] = job.result.methods;
    assert.equal(method.label, "real-guidance");
    assert.equal(method.generation.images, 40);
    assert.deepEqual(method.runs, []);
    assert.deepEqual(Object.keys(job.result.stages).sort(), ["generate"]);
    const zip = await gw.app.inject({ method: "GET", url: `/v1/jobs/${job.id}/synthetic.zip` });
    assert.equal(zip.statusCode, 200);
  });

  test("cancelling a job aborts its running shard RPCs on the replica", async () => {
    const held = compute.hold();
    try {
      const dataset = await store.datasets.list({ limit: 1 });
      const submitted = await gw.app.inject({
        method: "POST",
        url: "/v1/jobs",
        headers: { "idempotency-key": idemKey() },
        payload: { datasetId: dataset.items[0].id, methods: [{ preset: "real-guidance" }], baselines: [] },
      });
      assert.equal(submitted.statusCode, 201);
      const id = submitted.json().id;
      const deadline = Date.now() + 10_000;
      while ((await store.jobs.taskCounts(id)).running === 0) {
        assert.ok(Date.now() < deadline, "a shard started");
        await sleep(20);
      }
      const cancelled = await gw.app.inject({
        method: "POST",
        url: `/v1/jobs/${id}/cancel`,
        headers: { "idempotency-key": idemKey() },
      });
      assert.equal(cancelled.statusCode, 200);
      while (held.cancelled === 0) {
        assert.ok(Date.now() < deadline, "the replica saw the cancellation");
        await sleep(20);
      }
      assert.equal((await waitFinal(id)).state, "cancelled");
    } finally {
      held.release();
    }
  });
});
