/**
 * The auto method end to end over fake compute whose classifier scores are planted: the search must find
 * the planted best setting on the validation split, halve the candidates between rungs, never show a test
 * image to fine-tuning, generation or the search's training and scoring, and fall back to no
 * augmentation (with a warning) when nothing beats it.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, before, describe, it } from "node:test";
import type { ByteDataset } from "../../../../shared/data/index.js";
import type { TrainRequest } from "../../../../shared/gen/diffda/classifier/v1/classifier_pb.js";
import { type ComputeGateway, startComputeGateway } from "../testing/compute-gateway.js";

/** A built-in of 2 classes × 24 train and 4 test images (4×4 gray, every image distinct). */
function builtin(): ByteDataset {
  const n = 56;
  const isTest = (i: number) => i >= 48;
  return {
    name: "tiny-24",
    channels: 1,
    height: 4,
    width: 4,
    classNames: ["shoe", "bag"],
    pixels: Uint8Array.from({ length: n * 16 }, (_, k) => (Math.floor(k / 16) * 31 + (k % 16) * 7) % 256),
    labels: Int32Array.from({ length: n }, (_, i) => i % 2),
    split: Uint8Array.from({ length: n }, (_, i) => (isTest(i) ? 1 : 0)),
    origin: Int32Array.from({ length: n }, (_, i) => i),
    train: Int32Array.from({ length: 48 }, (_, i) => i),
    test: Int32Array.from({ length: 8 }, (_, i) => 48 + i),
  };
}

const idemKey = () => `auto-${Math.random().toString(36).slice(2)}`;
const digest = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

/** Real-only runs score 0.6; with synthetic images, p = 0.5 scores `best`, other settings `others`. */
const planted =
  (best: number, others: number) =>
  (request: TrainRequest): number =>
    request.syntheticImages.length === 0
      ? 0.6
      : request.spec?.utilization?.replaceProbability === 0.5
        ? best
        : others;

async function runAuto(stack: ComputeGateway, search: Record<string, unknown>) {
  const { app } = stack.gw;
  const dataset = await app.inject({
    method: "POST",
    url: "/v1/datasets",
    headers: { "idempotency-key": idemKey() },
    payload: { builtin: "fashion-mnist", shots: 20 },
  });
  assert.equal(dataset.statusCode, 201, dataset.body);
  const submitted = await app.inject({
    method: "POST",
    url: "/v1/jobs",
    headers: { "idempotency-key": idemKey() },
    payload: {
      datasetId: dataset.json().id,
      methods: [{ preset: "auto", search }],
      baselines: ["no-augmentation"],
      seeds: [0, 1],
    },
  });
  assert.equal(submitted.statusCode, 201, submitted.body);
  const job = await stack.waitFinal(submitted.json().id, {}, 180_000);
  assert.equal(job.state, "succeeded", JSON.stringify(job.error));
  return job;
}

const SPACE = {
  // One synthetic image per real one keeps the fake stack's work small.
  presets: [
    { preset: "real-guidance", generation: { syntheticPerReal: 1 } },
    { preset: "da-fusion", generation: { syntheticPerReal: 1 } },
  ],
  strengths: [0.3, 0.6],
  replaceProbabilities: [0.2, 0.5, 0.8],
  rungs: 2,
  // 10 of each class's 20 training images: enough for the paired interval to resolve a planted gain.
  validationFraction: 0.5,
};

describe("the auto method", () => {
  describe("with a planted best setting", () => {
    let stack: ComputeGateway;
    // biome-ignore lint/suspicious/noExplicitAny: the job's JSON, read field by field
    let job: Record<string, any>;
    before(async () => {
      stack = await startComputeGateway({
        app: () => ({ authMode: "loopback-open" }),
        compute: { top1Of: planted(0.9, 0.65) },
        builtin,
      });
      job = await runAuto(stack, SPACE);
    });
    after(async () => stack?.close());

    it("chooses it on validation and runs it on the test split", () => {
      const search = job.result.search;
      assert.equal(search.recommendation, "augment");
      // The first candidate at p = 0.5: real-guidance, the lower strength (ties go to the earlier one).
      assert.deepEqual(search.chosen.setting, {
        preset: "real-guidance",
        strength: 0.3,
        replaceProbability: 0.5,
      });
      const auto = job.result.methods.find((m: { label: string }) => m.label === "auto");
      assert.equal(auto.preset, "auto");
      assert.deepEqual(
        auto.runs.map((r: { top1Accuracy: number }) => r.top1Accuracy),
        [0.9, 0.9],
      );
      assert.ok(Math.abs(auto.gainOverBaseline.mean - 0.3) < 1e-9);
      assert.ok(auto.runs.every((r: { syntheticImages: number }) => r.syntheticImages > 0));
      assert.ok(auto.cpuSeconds.total > auto.cpuSeconds.train, "the search's compute is in its total");
      assert.equal(job.result.methods.length, 2, "candidates are not methods of the result");
    });

    it("halves the candidates between rungs and keeps the reference", () => {
      const { candidates, rungs } = job.result.search;
      // 1 reference + real-guidance 2 strengths × 3 p + da-fusion 2 × 3.
      assert.equal(candidates.length, 13);
      assert.deepEqual(rungs[0].seeds, [0]);
      assert.deepEqual(rungs[1].seeds, [1, 2]);
      assert.equal(rungs[0].survivors.length, 1 + 6);
      assert.equal(rungs[0].survivors[0], candidates[0].label);
      const dropped = candidates.filter((c: { label: string }) => !rungs[0].survivors.includes(c.label));
      assert.equal(dropped.length, 6);
      for (const c of dropped) {
        assert.equal(c.rungsReached, 1);
        assert.equal(c.validation.runs.length, 1);
      }
      const chosen = candidates.find((c: { label: string }) => c.label === job.result.search.chosen.label);
      assert.equal(chosen.rungsReached, 2);
      assert.deepEqual(
        chosen.validation.runs.map((r: { seed: number }) => r.seed),
        [0, 1, 2],
      );
      assert.equal(job.result.search.validationImages, 20);
      assert.ok(job.result.search.evidence.interval.low > 0, JSON.stringify(job.result.search.evidence));
    });

    it("shows no test image to the search's fine-tuning, generation, training or scoring", async () => {
      const { calls } = stack.compute;
      const images = await stack.datasets.images(
        (await stack.store.datasets.get(job.spec.datasetId)) as NonNullable<
          Awaited<ReturnType<typeof stack.store.datasets.get>>
        >,
      );
      const test = new Set(images.test.map((image) => digest(image.png)));
      const train = new Set(images.train.map((image) => digest(image.png)));
      const sent = (list: { image?: { data: Uint8Array } }[]) =>
        list.map((x) => digest(x.image?.data ?? new Uint8Array()));
      for (const request of calls.finetune) {
        assert.equal(request.images.length, 20, "fine-tuning sees the training images less validation");
        for (const d of sent(request.images)) assert.ok(!test.has(d));
      }
      for (const { request } of calls.shards) for (const d of sent(request.sources)) assert.ok(!test.has(d));
      // Search runs train on 20 real images, the final and baseline runs on all 40.
      const counts = new Set(calls.train.map((r) => r.realImages.length));
      assert.deepEqual([...counts].sort(), [20, 40]);
      const searchEvaluations = calls.evaluate.filter((r) => r.images.length === 20);
      assert.ok(searchEvaluations.length > 0);
      for (const r of searchEvaluations)
        for (const d of sent(r.images)) {
          assert.ok(train.has(d), "the search scores on training images (its validation split)");
          assert.ok(!test.has(d));
        }
    });
  });

  describe("bad search requests", () => {
    let stack: ComputeGateway;
    let datasetId: string;
    before(async () => {
      stack = await startComputeGateway({ app: () => ({ authMode: "loopback-open" }) });
      const dataset = await stack.gw.app.inject({
        method: "POST",
        url: "/v1/datasets",
        headers: { "idempotency-key": idemKey() },
        payload: { builtin: "fashion-mnist", shots: 2 },
      });
      datasetId = dataset.json().id;
    });
    after(async () => stack?.close());

    const submit = (methods: unknown[], extra: Record<string, unknown> = {}) =>
      stack.gw.app.inject({
        method: "POST",
        url: "/v1/jobs",
        headers: { "idempotency-key": idemKey() },
        payload: { datasetId, methods, ...extra },
      });

    it("answer problem+json naming the field, and store no job", async () => {
      const cases: [unknown[], Record<string, unknown>, number, string][] = [
        [
          [{ preset: "auto", search: { presets: ["traditional"] } }],
          {},
          400,
          "/body/methods/0/search/presets/0",
        ],
        [
          [{ preset: "auto", search: { validationFraction: 0.9 } }],
          {},
          400,
          "/body/methods/0/search/validationFraction",
        ],
        [[{ preset: "auto", search: { rungs: 0 } }], {}, 400, "/body/methods/0/search/rungs"],
        [[{ preset: "auto", generation: { strength: 0.5 } }], {}, 422, "/body/methods/0/generation"],
        [[{ preset: "gif", search: {} }], {}, 422, "/body/methods/0/search"],
        [[{ preset: "auto" }, { preset: "auto", label: "again" }], {}, 422, "/body/methods/1/preset"],
        [[{ preset: "auto" }], { kind: "generate", baselines: [] }, 422, "/body/methods/0/preset"],
        [
          [
            {
              preset: "auto",
              search: {
                presets: [{ preset: "da-fusion", finetuning: { method: "none", lora: { rank: 4 } } }],
              },
            },
          ],
          {},
          422,
          "/body/methods/0/search/presets/0/finetuning/lora",
        ],
      ];
      for (const [methods, extra, status, field] of cases) {
        const res = await submit(methods, extra);
        assert.equal(res.statusCode, status, `${JSON.stringify(methods)}: ${res.body}`);
        assert.match(res.headers["content-type"] as string, /application\/problem\+json/);
        const fields = res.json().errors.map((e: { field: string }) => e.field);
        assert.ok(
          fields.some((f: string) => f.startsWith(field)),
          `${JSON.stringify(methods)}: ${JSON.stringify(fields)}`,
        );
      }
      const jobs = await stack.gw.app.inject({ method: "GET", url: "/v1/jobs" });
      assert.equal(jobs.json().items.length, 0);
    });

    it("take presets with overrides of their components", async () => {
      const res = await submit([
        {
          preset: "auto",
          search: {
            presets: [
              { preset: "da-fusion", finetuning: { textualInversion: { maxTrainSteps: 50 } } },
              "real-guidance",
            ],
            strengths: [0.5],
            replaceProbabilities: [0.3],
          },
        },
      ]);
      assert.equal(res.statusCode, 201, res.body);
      const candidates = res.json().spec.search.candidates;
      assert.equal(candidates.length, 3);
      assert.equal(candidates[1].finetuning.textualInversion.maxTrainSteps, 50);
      assert.equal(candidates[1].generation.strength, 0.5);
      await stack.gw.app.inject({ method: "POST", url: `/v1/jobs/${res.json().id}/cancel` });
    });
  });

  describe("when nothing beats no augmentation on validation", () => {
    let stack: ComputeGateway;
    // biome-ignore lint/suspicious/noExplicitAny: the job's JSON, read field by field
    let job: Record<string, any>;
    before(async () => {
      stack = await startComputeGateway({
        app: () => ({ authMode: "loopback-open" }),
        // The best candidate scores 0.61: above the reference, but by less than minGain (0.02).
        compute: { top1Of: planted(0.61, 0.55) },
        builtin,
      });
      job = await runAuto(stack, { ...SPACE, presets: [SPACE.presets[0]], rungs: 1 });
    });
    after(async () => stack?.close());

    it("recommends no augmentation, runs without it, and warns", () => {
      const search = job.result.search;
      assert.equal(search.recommendation, "no_augmentation", JSON.stringify(search.candidates));
      assert.equal(search.chosen.setting.preset, "no-augmentation");
      const auto = job.result.methods.find((m: { label: string }) => m.label === "auto");
      assert.deepEqual(
        auto.runs.map((r: { top1Accuracy: number; syntheticImages: number }) => [
          r.top1Accuracy,
          r.syntheticImages,
        ]),
        [
          [0.6, 0],
          [0.6, 0],
        ],
      );
      assert.equal(auto.gainOverBaseline.mean, 0);
      const warning = job.result.warnings.find((w: { code: string }) => w.code === "auto_no_gain");
      assert.ok(warning, JSON.stringify(job.result.warnings));
      assert.match(warning.message, /no augmentation is the recommendation/);
    });
  });
});
