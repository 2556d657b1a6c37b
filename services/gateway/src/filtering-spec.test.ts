import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { type JobRequest, resolveJobSpec } from "./job-spec.js";
import { planJob, type TrainInput } from "./orchestrator/planner.js";
import { PRESETS } from "./presets.js";
import { validateDag } from "./store/index.js";

const CONTEXT = { trainCount: 4, shardSize: 10, maxSyntheticImages: 1_000_000, maxRuns: 100 };

const resolve = (request: Omit<JobRequest, "datasetId">) =>
  resolveJobSpec({ datasetId: "d", ...request }, CONTEXT);

function planned(request: Omit<JobRequest, "datasetId">) {
  const { spec, issues } = resolve(request);
  assert.ok(spec, JSON.stringify(issues));
  return { spec, tasks: planJob(spec, { trainCount: CONTEXT.trainCount }) };
}

describe("filtering: spec resolution and plan", () => {
  test("no preset filters: resolved methods carry no filtering, and scorer none resolves to none", () => {
    const { spec } = planned({
      methods: PRESETS.filter((p) => p.kind === "diffda").map((p) => ({ preset: p.id })),
    });
    for (const method of spec.methods) assert.equal("filtering" in method, false, method.label);
    const none = planned({ methods: [{ preset: "diff-mix", filtering: { scorer: "none" } }] });
    assert.equal("filtering" in none.spec.methods.at(-1)!, false);
  });

  test("a filtering method keeps its rule as given", () => {
    const { spec } = planned({
      methods: [{ preset: "diff-mix", filtering: { scorer: "clip", minScore: 0.2, sourceWeight: 0.25 } }],
    });
    assert.deepEqual(spec.methods.at(-1)?.filtering, { scorer: "clip", minScore: 0.2, sourceWeight: 0.25 });
  });

  test("the classifier scorer's train task waits for the baseline of its seed; clip's does not", () => {
    const { tasks } = planned({
      methods: [
        { preset: "real-guidance", label: "a", filtering: { scorer: "classifier", keepFraction: 0.5 } },
        { preset: "real-guidance", label: "b", filtering: { scorer: "clip", keepFraction: 0.5 } },
      ],
      seeds: [0, 1],
    });
    validateDag(tasks);
    for (const seed of [0, 1]) {
      const a = tasks.find((t) => t.key === `train:a:seed=${seed}`)!;
      assert.ok(a.dependsOn?.includes(`train:no-augmentation:seed=${seed}`));
      assert.equal((a.input as TrainInput).scoringTask, `train:no-augmentation:seed=${seed}`);
      const b = tasks.find((t) => t.key === `train:b:seed=${seed}`)!;
      assert.equal(
        b.dependsOn?.some((d) => d.startsWith("train:")),
        false,
      );
      assert.equal((b.input as TrainInput).scoringTask, undefined);
    }
  });

  test("tasks stay after their dependencies when the baseline is listed after the method", () => {
    const { tasks } = planned({
      methods: [
        { preset: "real-guidance", filtering: { scorer: "classifier", keepFraction: 0.5 } },
        { preset: "no-augmentation" },
      ],
      baselines: [],
    });
    validateDag(tasks);
    const at = new Map(tasks.map((t, i) => [t.key, i]));
    tasks.forEach((t, i) => {
      for (const dep of t.dependsOn ?? []) assert.ok(at.get(dep)! < i, `${t.key} after ${dep}`);
    });
  });

  test("rules the schema cannot state are field issues", () => {
    const fields = (request: Omit<JobRequest, "datasetId">) => resolve(request).issues.map((i) => i.field);
    assert.deepEqual(fields({ methods: [{ preset: "gif", filtering: { scorer: "clip" } }] }), [
      "/body/methods/0/filtering",
    ]);
    assert.deepEqual(
      fields({
        methods: [{ preset: "gif", filtering: { scorer: "none", minScore: 0.1, sourceWeight: 0.1 } }],
      }),
      ["/body/methods/0/filtering/minScore", "/body/methods/0/filtering/sourceWeight"],
    );
    assert.deepEqual(
      fields({
        methods: [{ preset: "gif", filtering: { scorer: "classifier", keepFraction: 0.5 } }],
        baselines: ["traditional"],
      }),
      ["/body/methods/0/filtering/scorer"],
    );
    assert.deepEqual(
      fields({
        kind: "generate",
        methods: [{ preset: "gif", filtering: { scorer: "clip", keepFraction: 0.5 } }],
      }),
      ["/body/methods/0/filtering"],
    );
    assert.deepEqual(
      fields({
        methods: [{ preset: "traditional", label: "t2", filtering: { scorer: "clip", keepFraction: 1 } }],
      }),
      ["/body/methods/0/filtering/scorer"],
    );
  });
});
