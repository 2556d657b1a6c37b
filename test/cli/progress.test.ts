import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { describe, test } from "node:test";
import type { JobEvent, JobSpec } from "../../cli/client/types.js";
import { formatStageLine, renderBar } from "../../cli/progress/bar.js";
import { createJobProgress, planStages } from "../../cli/progress/job-progress.js";
import { createRenderer } from "../../cli/progress/renderer.js";
import { planJob, resolveJobSpec } from "../../services/gateway/src/index.js";

function resolved(): JobSpec {
  const out = resolveJobSpec(
    {
      datasetId: "00000000-0000-4000-8000-000000000001",
      methods: [
        { preset: "real-guidance" },
        { preset: "diff-aug" },
        { preset: "diff-mix" },
        { preset: "da-fusion" },
      ],
      seeds: [0, 1],
      shardSize: 16,
    },
    { trainCount: 10, shardSize: 64, maxSyntheticImages: 100_000, maxRuns: 64 },
  );
  assert.ok(out.spec, JSON.stringify(out.issues));
  return out.spec as unknown as JobSpec;
}

let nextId = 1;
const at = (seconds: number) => new Date(Date.UTC(2025, 0, 1, 0, 0, seconds)).toISOString();
const ev = (type: string, seconds: number, data: Record<string, unknown> = {}): JobEvent => ({
  id: nextId++,
  type,
  createdAt: at(seconds),
  data,
});

describe("job progress", () => {
  test("the stage sizes match the gateway's planner: shared fine-tuning, shards, runs", () => {
    const spec = resolved();
    const plan = planStages(spec, 10);
    const tasks = planJob(spec as never, { trainCount: 10 });
    const count = (kind: string) => tasks.filter((t) => t.kind === kind).length;
    assert.deepEqual(plan.tasks, {
      finetune: count("finetune"),
      generate: count("generate"),
      train: count("train"),
      evaluate: count("evaluate"),
    });
    assert.equal(
      plan.tasks.finetune,
      2,
      "Diff-Aug and Diff-Mix share one TI+LoRA task; DA-Fusion has its own",
    );
    for (const task of tasks.filter((t) => t.kind === "generate")) {
      assert.equal(plan.shardSamples.get(task.key), (task.input as { count: number }).count, task.key);
    }
    assert.equal(plan.images, 4 * 2 * 10 * 5);
  });

  test("events fold into stage fractions, details and wall times", () => {
    const spec = resolved();
    const progress = createJobProgress(planStages(spec, 10));
    progress.apply(ev("job.started", 0));
    const ft = "finetune:ti_lora:abc";
    progress.apply(ev("task.started", 0, { key: ft, kind: "finetune" }));
    progress.apply(
      ev("task.progress", 5, { key: ft, stage: "lora", step: 50, totalSteps: 200, loss: 0.0842 }),
    );
    let finetune = progress.stages(Date.parse(at(10)))[0];
    assert.equal(finetune.detail, "lora 50/200 loss 0.084");
    assert.equal(finetune.fraction, (1 + 0.25) / 2 / 2, "TI+LoRA: the TI stage is done, LoRA a quarter");
    assert.equal(finetune.wallSeconds, 10);

    const shard = "generate:real-guidance:seed=0:shard=0";
    progress.apply(ev("task.started", 10, { key: shard, kind: "generate" }));
    progress.apply(ev("task.progress", 12, { key: shard, stage: "generate", step: 6, totalSteps: 16 }));
    let generate = progress.stages(Date.parse(at(12)))[1];
    assert.equal(generate.done, 6);
    assert.equal(generate.unit, "images");
    assert.equal(generate.fraction, 6 / 400);
    assert.equal(generate.detail, "3.00 img/s");
    // The shard fails once; its retry only makes the 10 images still missing.
    progress.apply(ev("task.retry_scheduled", 13, { key: shard, kind: "generate", attempt: 1 }));
    progress.apply(ev("task.started", 14, { key: shard, kind: "generate" }));
    progress.apply(ev("task.progress", 15, { key: shard, stage: "generate", step: 4, totalSteps: 10 }));
    generate = progress.stages(Date.parse(at(15)))[1];
    assert.equal(generate.done, 10);
    assert.equal(generate.retries, 1);
    progress.apply(ev("task.succeeded", 16, { key: shard, kind: "generate" }));
    assert.equal(progress.stages(Date.parse(at(16)))[1].done, 16);

    progress.apply(ev("task.succeeded", 20, { key: ft, kind: "finetune" }));
    finetune = progress.stages(Date.parse(at(30)))[0];
    assert.equal(finetune.succeeded, 1);
    assert.equal(finetune.wallSeconds, 30, "the stage is not done: its wall time runs on");

    const train = "train:real-guidance:seed=0";
    progress.apply(ev("task.started", 20, { key: train, kind: "train" }));
    progress.apply(
      ev("task.progress", 21, {
        key: train,
        stage: "train",
        step: 30,
        totalSteps: 120,
        message: "epoch 3/12",
        loss: 1.5,
      }),
    );
    assert.equal(progress.stages(Date.parse(at(21)))[2].detail, "epoch 3/12 loss 1.500");
    // A second run waits in the classifier's queue after decoding: the detail follows the active one.
    const waiting = "train:da-fusion:seed=0";
    progress.apply(ev("task.started", 21, { key: waiting, kind: "train" }));
    progress.apply(ev("task.progress", 21, { key: waiting, stage: "decode", step: 50, totalSteps: 50 }));
    assert.equal(progress.stages(Date.parse(at(21)))[2].detail, "decode 50/50");
    progress.apply(
      ev("task.progress", 23, {
        key: train,
        stage: "train",
        step: 40,
        totalSteps: 120,
        message: "epoch 4/12",
        loss: 1.25,
      }),
    );
    assert.equal(progress.stages(Date.parse(at(23)))[2].detail, "epoch 4/12 loss 1.250");
    progress.apply(ev("job.failed", 22, { error: "x" }));
    assert.equal(progress.state, "failed");
    assert.deepEqual(progress.wallSeconds(), { finetune: 20, generate: 6 }, "first start → last finish");
  });

  test("bars fill by eighths; plain bars use # and -", () => {
    assert.equal(renderBar(0, 4), "    ");
    assert.equal(renderBar(1, 4), "████");
    assert.equal(renderBar(0.5, 4), "██  ");
    assert.equal(renderBar(1 / 32, 4), "▏   ");
    assert.equal(renderBar(0.5, 4, false), "##--");
    assert.equal(renderBar(Number.NaN, 2), "  ");
    const line = formatStageLine({
      stage: "generate",
      tasks: 4,
      succeeded: 1,
      running: 1,
      failed: 0,
      retries: 2,
      fraction: 0.5,
      done: 20,
      total: 40,
      unit: "images",
      detail: "2.00 img/s",
      wallSeconds: 75,
    });
    assert.equal(
      line,
      "generate  [████████████            ]  50%  20/40 images  · 2.00 img/s · 2 retried · 1m15s",
    );
  });

  test("without a TTY the renderer prints plain lines, a stage again only when it moved on by a tenth", () => {
    const stream = new PassThrough();
    let text = "";
    stream.on("data", (chunk) => {
      text += chunk;
    });
    const renderer = createRenderer({ stream, interactive: false });
    const view = (fraction: number) => ({
      stage: "train" as const,
      tasks: 10,
      succeeded: Math.floor(fraction * 10),
      running: 1,
      failed: 0,
      retries: 0,
      fraction,
      done: Math.floor(fraction * 10),
      total: 10,
      unit: "runs",
      detail: "",
      wallSeconds: undefined,
    });
    renderer.update([view(0.1)]);
    renderer.update([view(0.15)]);
    renderer.message("job started");
    renderer.update([view(0.2)]);
    renderer.finish([view(1)]);
    const lines = text.trimEnd().split("\n");
    assert.deepEqual(lines, [
      "train     [##------------------]  10%  1/10 runs",
      "job started",
      "train     [####----------------]  20%  2/10 runs",
      "train     [####################] 100%  10/10 runs",
    ]);
    assert.ok(!text.includes("\x1b["), "no escape codes in a log");
  });

  test("on a TTY the renderer redraws its lines in place", () => {
    const stream = Object.assign(new PassThrough(), { isTTY: true, columns: 80 });
    let text = "";
    stream.on("data", (chunk) => {
      text += chunk;
    });
    const renderer = createRenderer({ stream, interactive: true, intervalMs: 0 });
    const view = {
      stage: "evaluate" as const,
      tasks: 2,
      succeeded: 0,
      running: 0,
      failed: 0,
      retries: 0,
      fraction: 0,
      done: 0,
      total: 2,
      unit: "runs",
      detail: "",
      wallSeconds: undefined,
    };
    renderer.update([view]);
    renderer.update([{ ...view, fraction: 0.5, done: 1 }]);
    assert.ok(text.includes("\x1b[1A"), "cursor up over the previous drawing");
    assert.ok(text.includes("\x1b[2K"), "lines cleared before redrawing");
  });
});
