import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { type JobRequest, resolveJobSpec } from "../job-spec.js";
import { PRESETS } from "../presets.js";
import { validateDag } from "../store/index.js";
import { canonicalJson, finetuneKey, type GenerateInput, planJob } from "./planner.js";

const CONTEXT = { trainCount: 7, shardSize: 10, maxSyntheticImages: 1_000_000, maxRuns: 100 };

function plan(request: Omit<JobRequest, "datasetId">) {
  const resolved = resolveJobSpec({ datasetId: "d", ...request }, CONTEXT);
  assert.ok(resolved.spec, JSON.stringify(resolved.issues));
  return { spec: resolved.spec, tasks: planJob(resolved.spec, { trainCount: CONTEXT.trainCount }) };
}

describe("planner and spec resolution", () => {
  test("every preset resolves without issues and plans a valid DAG", () => {
    const { tasks } = plan({
      methods: PRESETS.filter((p) => p.kind === "diffda").map((p) => ({ preset: p.id })),
      seeds: [0, 1],
    });
    validateDag(tasks);
    const keys = new Map(tasks.map((t, i) => [t.key, i]));
    tasks.forEach((t, i) => {
      for (const dep of t.dependsOn ?? []) assert.ok(keys.get(dep)! < i, `${t.key} comes after ${dep}`);
    });
    assert.equal(tasks.at(-1)?.key, "summarize");
  });

  test("shards cover every sample exactly once; the last one is shorter", () => {
    const { tasks } = plan({ methods: [{ preset: "gif" }], baselines: [], seeds: [3] });
    const shards = tasks.filter((t) => t.kind === "generate").map((t) => t.input as GenerateInput);
    assert.deepEqual(
      shards.map((s) => [s.firstSampleIndex, s.count]),
      [
        [0, 10],
        [10, 10],
        [20, 10],
        [30, 5],
      ],
    );
    assert.ok(shards.every((s) => s.samplesPerSource === 5 && s.seed === 3 && s.finetuneTask === null));
  });

  test("identical fine-tuning is shared, a changed recipe gets its own task", () => {
    const { tasks } = plan({
      methods: [
        { preset: "diff-aug" },
        { preset: "diff-mix" },
        { preset: "diff-ii" },
        { preset: "diff-mix", label: "rank4", finetuning: { lora: { rank: 4 } } },
      ],
      baselines: [],
    });
    const finetunes = tasks.filter((t) => t.kind === "finetune");
    assert.equal(finetunes.length, 2);
    assert.deepEqual((finetunes[0].input as { methods: string[] }).methods, [
      "diff-aug",
      "diff-mix",
      "diff-ii",
    ]);
    assert.equal(
      (finetunes[1].input as { finetuning: { lora: { rank: number; alpha: number } } }).finetuning.lora.rank,
      4,
    );
    assert.equal(
      (finetunes[1].input as { finetuning: { lora: { rank: number; alpha: number } } }).finetuning.lora.alpha,
      8,
      "an override of one LoRA field keeps the preset's others",
    );
  });

  test("canonical JSON ignores key order and undefined fields", () => {
    assert.equal(
      canonicalJson({ b: 1, a: { d: [1, { y: 2, x: 1 }], c: undefined } }),
      '{"a":{"d":[1,{"x":1,"y":2}]},"b":1}',
    );
    assert.equal(
      finetuneKey({ method: "ti_lora", lora: { rank: 8, alpha: 8 } }),
      finetuneKey({ lora: { alpha: 8, rank: 8 }, method: "ti_lora" }),
    );
  });

  test("changing a preset's generation mode drops the preset's parameters the new mode does not take", () => {
    const { spec } = plan({
      methods: [{ preset: "gif", generation: { mode: "text_to_image" } }],
      baselines: [],
    });
    const generation = spec.methods[0].generation;
    assert.equal(generation?.mode, "text_to_image");
    assert.equal(generation?.epsilon, undefined);
    assert.equal(generation?.strength, undefined);
  });

  test("runs and synthetic images over the limits are issues on /body/methods", () => {
    const resolved = resolveJobSpec(
      { datasetId: "d", methods: [{ preset: "gif" }], seeds: [0, 1] },
      { ...CONTEXT, maxRuns: 5, maxSyntheticImages: 69 },
    );
    assert.equal(resolved.spec, undefined);
    assert.deepEqual(
      resolved.issues.map((i) => i.field),
      ["/body/methods", "/body/methods"],
    );
  });
});
