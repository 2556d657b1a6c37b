/**
 * Sample filtering end to end over the gateway on fake compute: the fakes score an image by how close its
 * brightness is to its label's, and draw sample i of a class (i mod 5)·8 levels brighter, so the
 * samples with i mod 5 ∈ {3, 4} are the "bad" ones every scorer must rank lowest. A job with an
 * unfiltered, a classifier-filtered and a clip-filtered copy of one method must train the filtered ones on
 * fewer images, record the drops per class, and mark them in the export.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { idemKey } from "../test-support.js";
import { type ComputeGateway, startComputeGateway } from "../testing/compute-gateway.js";

describe("filtering: a job scores, drops and trains on the kept synthetic images", () => {
  let stack: ComputeGateway;
  // biome-ignore lint/suspicious/noExplicitAny: the job's JSON as the test reads it
  let job: Record<string, any>;
  let jobId: string;

  before(async () => {
    stack = await startComputeGateway({ app: () => ({ authMode: "loopback-open" }) });
    const { app } = stack.gw;
    const dataset = await app.inject({
      method: "POST",
      url: "/v1/datasets",
      headers: { "idempotency-key": idemKey() },
      payload: { builtin: "fashion-mnist", shots: 2 },
    });
    assert.equal(dataset.statusCode, 201, dataset.body);
    const submitted = await app.inject({
      method: "POST",
      url: "/v1/jobs",
      headers: { "idempotency-key": idemKey() },
      payload: {
        datasetId: dataset.json().id,
        methods: [
          { preset: "real-guidance", label: "plain" },
          {
            preset: "real-guidance",
            label: "by-classifier",
            filtering: { scorer: "classifier", keepFraction: 0.5 },
          },
          { preset: "real-guidance", label: "by-clip", filtering: { scorer: "clip", minScore: 0.95 } },
        ],
        baselines: ["no-augmentation"],
        seeds: [0],
      },
    });
    assert.equal(submitted.statusCode, 201, submitted.body);
    jobId = submitted.json().id;
    job = await stack.waitFinal(jobId);
    assert.equal(job.state, "succeeded", JSON.stringify(job.error));
  });

  after(() => stack?.close());

  const method = (label: string) => job.result.methods.find((m: { label: string }) => m.label === label);

  test("the spec keeps filtering only where asked; presets stay unfiltered", () => {
    const methods = job.spec.methods;
    assert.equal(methods.find((m: { label: string }) => m.label === "plain").filtering, undefined);
    assert.deepEqual(methods.find((m: { label: string }) => m.label === "by-classifier").filtering, {
      scorer: "classifier",
      keepFraction: 0.5,
    });
  });

  test("filtered runs train on fewer synthetic images, and the result records what was dropped", () => {
    assert.equal(method("plain").runs[0].syntheticImages, 20, "4 real × 5 per real");
    assert.equal(method("plain").filtering, undefined);
    const byClassifier = method("by-classifier");
    assert.equal(byClassifier.runs[0].syntheticImages, 10);
    assert.deepEqual(
      {
        scorer: byClassifier.filtering.scorer,
        keepFraction: byClassifier.filtering.keepFraction,
        minScore: byClassifier.filtering.minScore,
      },
      { scorer: "classifier", keepFraction: 0.5, minScore: null },
    );
    const run = byClassifier.filtering.runs[0];
    assert.deepEqual([run.seed, run.generated, run.kept, run.dropped], [0, 20, 10, 10]);
    assert.deepEqual(
      run.perClass.map((c: { class: string; total: number; kept: number; dropped: number }) => [
        c.class,
        c.total,
        c.kept,
        c.dropped,
      ]),
      [
        ["shoe", 10, 5, 5],
        ["bag", 10, 5, 5],
      ],
    );
    // Kept: both samples at offset 0 and 1, one at 2; the threshold is the offset-2 score.
    for (const c of run.perClass) assert.ok(Math.abs(c.threshold - (1 - 16 / 255)) < 1e-6, c.threshold);
    // minScore 0.95 keeps offsets 0–1 (scores 1 and 0.969), drops 2–4 (≤ 0.937).
    const clip = method("by-clip").filtering.runs[0];
    assert.deepEqual([clip.kept, clip.dropped], [8, 12]);
    assert.equal(method("by-clip").runs[0].syntheticImages, 8);
    // The trained set decides the (fake) accuracy: 0.5 + synthetic / 1000.
    assert.ok(Math.abs(byClassifier.runs[0].top1Accuracy - 0.51) < 1e-9);
  });

  test("the classifier scorer asks the no-augmentation baseline's checkpoint; clip asks ScoreImages", () => {
    const scoring = stack.compute.calls.evaluate.filter((r) => r.images.length === 20);
    assert.equal(scoring.length, 1, "one scoring call, over the run's 20 synthetic images");
    assert.equal(Buffer.from(scoring[0].spec?.checkpoint?.content ?? []).toString(), "0:0");
    assert.equal(stack.compute.calls.scores.length, 1);
    assert.deepEqual(
      stack.compute.calls.scores[0].classes.map((c) => c.name),
      ["shoe", "bag"],
    );
    const trained = stack.compute.calls.train.map((t) => t.syntheticImages.length).sort((a, b) => a - b);
    assert.deepEqual(trained, [0, 8, 10, 20]);
  });

  test("the export keeps dropped images, marked with their score and verdict", async () => {
    const res = await stack.gw.app.inject({ method: "GET", url: `/v1/jobs/${jobId}/synthetic.zip` });
    assert.equal(res.statusCode, 200);
    const dir = await mkdtemp(join(tmpdir(), "diffda-filtering-"));
    try {
      const path = join(dir, "set.zip");
      await writeFile(path, res.rawPayload);
      const manifest = JSON.parse(execFileSync("unzip", ["-p", path, "manifest.json"], { encoding: "utf8" }));
      const of = (label: string) =>
        manifest.images.filter((image: { method: string }) => image.method === label);
      assert.equal(of("by-classifier").length, 20);
      for (const image of of("plain")) assert.equal(image.filtering, undefined);
      for (const image of of("by-classifier")) {
        const offset = image.sampleIndex % 5;
        assert.ok(Math.abs(image.filtering.score - (1 - (offset * 8) / 255)) < 1e-6);
        if (offset <= 1) assert.equal(image.filtering.kept, true);
        if (offset >= 3) assert.equal(image.filtering.kept, false);
      }
      assert.equal(
        of("by-classifier").filter((i: { filtering: { kept: boolean } }) => i.filtering.kept).length,
        10,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
