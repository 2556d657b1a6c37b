import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { resolveJobSpec } from "../../job-spec.js";
import type { Task } from "../../store/index.js";
import { planJob } from "../planner.js";
import { summarize } from "./summarize.js";

const CONTEXT = { trainCount: 2, shardSize: 10, maxSyntheticImages: 1_000_000, maxRuns: 100 };

/** A job's planned tasks, all succeeded, with outputs made by `output(key, kind)`. */
function finishedTasks(
  methods: { preset: string }[],
  output: (key: string, kind: string) => Record<string, unknown>,
) {
  const resolved = resolveJobSpec(
    { datasetId: "d", methods, baselines: ["no-augmentation"], seeds: [0] },
    CONTEXT,
  );
  assert.ok(resolved.spec, JSON.stringify(resolved.issues));
  const started = new Date(0);
  const tasks: Task[] = planJob(resolved.spec, { trainCount: CONTEXT.trainCount }).map((t, i) => ({
    id: String(i),
    jobId: "j",
    key: t.key,
    kind: t.kind,
    position: i,
    state: "succeeded",
    attempts: 1,
    maxAttempts: 3,
    leaseLosses: 0,
    infraFailures: 0,
    retryDeadline: null,
    runAfter: started,
    leaseOwner: null,
    leaseExpiresAt: null,
    heartbeatAt: null,
    input: t.input,
    output: output(t.key, t.kind),
    error: null,
    dependsOn: [...(t.dependsOn ?? [])],
    createdAt: started,
    updatedAt: started,
    startedAt: started,
    finishedAt: new Date(1000),
  }));
  return { spec: resolved.spec, tasks };
}

const EVALUATED = { top1Accuracy: 0.5, perClassAccuracy: [0.5, 0.5], meanLoss: 1, sampleCount: 4 };

describe("summarize: CPU seconds", () => {
  test("methods sharing a fine-tuning task each count it in full and name who shares it", () => {
    const { spec, tasks } = finishedTasks([{ preset: "diff-aug" }, { preset: "diff-mix" }], (_, kind) => ({
      ...(kind === "generate" ? { images: 10, durationSeconds: 1 } : {}),
      ...(kind === "evaluate" ? EVALUATED : {}),
      cpuSeconds: { finetune: 8, generate: 2, train: 1, evaluate: 0.5 }[kind] ?? 0,
    }));
    const result = summarize(spec, ["a", "b"], tasks);
    const [aug, mix] = ["diff-aug", "diff-mix"].map(
      (label) => result.methods.find((m) => m.label === label)!,
    );
    assert.equal(tasks.filter((t) => t.kind === "finetune").length, 1, "one TI+LoRA task for both");
    assert.equal(aug.cpuSeconds.finetune, 8);
    assert.equal(mix.cpuSeconds.finetune, 8);
    assert.deepEqual(aug.cpuSeconds.finetuneSharedWith, ["diff-mix"]);
    assert.deepEqual(mix.cpuSeconds.finetuneSharedWith, ["diff-aug"]);
    // 2 real × 5 per real = 10 samples: one shard of 10 images.
    assert.equal(aug.cpuSeconds.perSyntheticImage, 2 / 10);
    assert.equal(aug.cpuSeconds.perSyntheticImageWithFinetune, (8 + 2) / 10);
    assert.equal(aug.cpuSeconds.total, 8 + 2 + 1 + 0.5);
    assert.equal(result.stages.finetune.cpuSeconds, 8, "the stage counts the shared task once");
  });

  test("a task that reported no CPU makes its sums unknown (null), not smaller", () => {
    const { spec, tasks } = finishedTasks([{ preset: "real-guidance" }], (key, kind) => ({
      ...(kind === "generate" ? { images: 10, durationSeconds: 1, cpuSeconds: 2 } : {}),
      ...(kind === "evaluate" ? EVALUATED : {}),
      // An evaluation from a classifier that predates CPU accounting.
      ...(kind === "train" || (kind === "evaluate" && !key.includes("real-guidance"))
        ? { cpuSeconds: 1 }
        : {}),
    }));
    const result = summarize(spec, ["a", "b"], tasks);
    const guidance = result.methods.find((m) => m.label === "real-guidance")!;
    assert.equal(guidance.cpuSeconds.evaluate, null);
    assert.equal(guidance.cpuSeconds.total, null);
    assert.equal(guidance.cpuSeconds.generate, 2, "measured parts stay known");
    assert.equal(result.stages.evaluate.cpuSeconds, null);
    assert.equal(result.stages.train.cpuSeconds, 2);
    const baseline = result.methods.find((m) => m.label === "no-augmentation")!;
    assert.equal(baseline.cpuSeconds.total, 2);
  });
});

describe("summarize: training compute", () => {
  test("each run shows its epochs, batch size, steps, images seen and final training accuracy", () => {
    const trained = { epochs: 50, batchSize: 4, steps: 300, imagesSeen: 1200, finalTrainAccuracy: 1 };
    // A train output stored before the gateway kept the compute, its NaN accuracy stored as null.
    const older = { epochs: 30, finalTrainAccuracy: null };
    const { spec, tasks } = finishedTasks([{ preset: "real-guidance" }], (key, kind) => {
      if (kind === "evaluate") return EVALUATED;
      if (kind !== "train") return {};
      return key.includes("real-guidance") ? trained : older;
    });
    const result = summarize(spec, ["a", "b"], tasks);
    const compute = (label: string) => {
      const run = result.methods.find((m) => m.label === label)!.runs[0];
      const { epochs, batchSize, steps, imagesSeen, finalTrainAccuracy } = run;
      return { epochs, batchSize, steps, imagesSeen, finalTrainAccuracy };
    };
    assert.deepEqual(compute("real-guidance"), trained);
    assert.deepEqual(compute("no-augmentation"), {
      epochs: 30,
      batchSize: null,
      steps: null,
      imagesSeen: null,
      finalTrainAccuracy: null,
    });
  });
});

/** `n` per-image results of which the first `right` are correct. */
const correctOf = (n: number, right: number) => Array.from({ length: n }, (_, i) => (i < right ? 1 : 0));

describe("summarize: intervals and warnings", () => {
  const evaluated = (correct: number[]) => ({
    ...EVALUATED,
    sampleCount: correct.length,
    top1Accuracy: correct.reduce((a, b) => a + b, 0) / correct.length,
    correct,
  });

  test("a clear gain on a large test split is resolved and draws no warning", () => {
    const { spec, tasks } = finishedTasks([{ preset: "real-guidance" }], (key, kind) =>
      kind !== "evaluate"
        ? {}
        : key.includes("real-guidance")
          ? evaluated(correctOf(400, 300))
          : evaluated(correctOf(400, 200)),
    );
    const result = summarize(spec, ["a", "b"], tasks);
    const gain = result.methods.find((m) => m.label === "real-guidance")!.gainOverBaseline!;
    assert.equal(gain.mean, 0.25);
    assert.ok(gain.interval, "per-image results give an interval");
    assert.ok(gain.interval.low > 0 && gain.interval.low < 0.25 && gain.interval.high > 0.25);
    assert.equal(gain.interval.resolved, true);
    assert.equal(gain.interval.images, 400);
    assert.equal(result.testImages, 400);
    assert.deepEqual(result.warnings, []);
  });

  test("a small test split warns, and a gain within its noise is flagged unresolved", () => {
    // 20 images: the method gets one more right than the baseline.
    const { spec, tasks } = finishedTasks([{ preset: "real-guidance" }], (key, kind) =>
      kind !== "evaluate"
        ? {}
        : key.includes("real-guidance")
          ? evaluated(correctOf(20, 11))
          : evaluated(correctOf(20, 10)),
    );
    const result = summarize(spec, ["a", "b"], tasks);
    const gain = result.methods.find((m) => m.label === "real-guidance")!.gainOverBaseline!;
    assert.ok(gain.interval && gain.interval.low <= 0 && gain.interval.high > 0);
    assert.equal(gain.interval.resolved, false);
    assert.deepEqual(
      result.warnings.map((w) => [w.code, w.method]),
      [
        ["small_test_split", undefined],
        ["gain_unresolved", "real-guidance"],
      ],
    );
    assert.match(result.warnings[0].message, /20 images: one image is worth 5\.0 points/);
  });

  test("evaluations without per-image results give no interval, as before", () => {
    const { spec, tasks } = finishedTasks([{ preset: "real-guidance" }], (_, kind) =>
      kind === "evaluate" ? EVALUATED : {},
    );
    const result = summarize(spec, ["a", "b"], tasks);
    assert.equal(result.methods.find((m) => m.label === "real-guidance")!.gainOverBaseline!.interval, null);
  });
});

describe("summarize: resolution", () => {
  test("names the dataset's, the classifier's and each method's generated size, and warns on a resize", () => {
    const { spec, tasks } = finishedTasks([{ preset: "real-guidance" }], (_, kind) => ({
      ...(kind === "generate"
        ? { images: 10, durationSeconds: 1, imageSize: { height: 32, width: 32 } }
        : {}),
      ...(kind === "evaluate" ? EVALUATED : {}),
    }));
    const result = summarize(spec, ["a", "b"], tasks, { height: 28, width: 28 });
    assert.deepEqual(result.resolution, {
      dataset: { height: 28, width: 28 },
      classifier: { height: 28, width: 28 },
      generation: { "real-guidance": { height: 32, width: 32 } },
    });
    const resized = result.warnings.filter((w) => w.code === "resized");
    assert.equal(resized.length, 1);
    assert.equal(resized[0].method, "real-guidance");
    assert.match(resized[0].message, /generated at 32×32 px .* resized to 28×28 px/);
    // Generated at the classifier's size: nothing to say.
    const same = summarize(spec, ["a", "b"], tasks, { height: 32, width: 32 });
    assert.equal(same.warnings.filter((w) => w.code === "resized").length, 0);
  });
});
