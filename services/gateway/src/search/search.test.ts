import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { validationSplit } from "../../../../shared/data/index.js";
import type { FieldIssue } from "../errors.js";
import { resolveJobSpec } from "../job-spec.js";
import { selectCandidates } from "../orchestrator/handlers/select.js";
import { planJob } from "../orchestrator/planner.js";

const context = { trainCount: 25, shardSize: 64, maxSyntheticImages: 100_000, maxRuns: 1000 };
const datasetId = "00000000-0000-4000-8000-000000000000";

function resolveAuto(search: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) {
  return resolveJobSpec(
    { datasetId, methods: [{ preset: "auto", search } as never], seeds: [3, 4], ...extra },
    context,
  );
}

describe("validationSplit", () => {
  const labels = [0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2];
  it("holds out round(f × n) per class, never a whole class, reproducibly", () => {
    const split = validationSplit(labels, 3, 7, 0.3);
    const held = (c: number) => split.validation.filter((i) => labels[i] === c).length;
    assert.deepEqual([held(0), held(1), held(2)], [2, 2, 0]);
    assert.deepEqual(
      [...split.train, ...split.validation].sort((a, b) => a - b),
      labels.map((_, i) => i),
    );
    assert.deepEqual(validationSplit(labels, 3, 7, 0.3), split);
    assert.notDeepEqual(validationSplit(labels, 3, 8, 0.3).validation, split.validation);
  });
  it("refuses a fraction outside (0, 1)", () => {
    assert.throws(() => validationSplit(labels, 3, 0, 1), RangeError);
  });
});

describe("resolving an auto method", () => {
  it("expands the space into candidates behind the no-augmentation reference", () => {
    const { spec, issues } = resolveAuto();
    assert.deepEqual(issues, []);
    const search = spec!.search!;
    // real-guidance 3 strengths × 2 p, da-fusion 3 × 2, diffusemix (no strength) 2.
    assert.equal(search.candidates.length, 1 + 6 + 6 + 2);
    assert.equal(search.candidates[0].setting.preset, "no-augmentation");
    assert.equal(search.candidates[0].generation, null);
    assert.deepEqual(search.rungSeeds, [[3], [4, 5]]);
    const rg = search.candidates.filter((c) => c.setting.preset === "real-guidance");
    assert.ok(rg.every((c) => c.utilization.mode === "lrr"));
    // Two p values per strength share one generation.
    assert.equal(rg[1].syntheticOf, rg[0].label);
    assert.equal(rg[2].syntheticOf, rg[2].label);
    assert.equal(rg[2].generation?.strength, 0.6);
    // The auto method is not one of the job's methods: the search stands for it.
    assert.deepEqual(
      spec!.methods.map((m) => m.label),
      ["no-augmentation", "traditional"],
    );
  });

  it("plans candidates on the search split and one final run per job seed", () => {
    const { spec } = resolveAuto({
      presets: ["real-guidance"],
      strengths: [0.5],
      replaceProbabilities: [0.3, 0.6],
    });
    const tasks = planJob(spec!, { trainCount: 25 });
    const keys = tasks.map((t) => t.key);
    assert.ok(keys.includes("select:auto:rung=0") && keys.includes("select:auto:rung=1"));
    assert.ok(keys.includes("train:auto:seed=3") && keys.includes("evaluate:auto:seed=4"));
    const generates = tasks.filter((t) => t.kind === "generate" && t.key.includes("auto."));
    assert.equal(generates.length, Math.ceil((25 * 4) / 64), "one generation for both p values");
    for (const t of tasks.filter((t) => t.key.includes(":auto.")))
      assert.equal((t.input as { split?: string }).split, "search", t.key);
    const summarize = tasks.find((t) => t.kind === "summarize")!;
    assert.ok(summarize.dependsOn?.includes("evaluate:auto:seed=3"));
  });

  it("refuses what a search cannot take", () => {
    const issues = (r: ReturnType<typeof resolveJobSpec>): FieldIssue[] => r.issues;
    assert.match(issues(resolveAuto({ presets: ["traditional"] }))[0].message, /not a DiffDA preset/);
    const two = resolveJobSpec({ datasetId, methods: [{ preset: "auto" }, { preset: "auto" }] }, context);
    assert.match(two.issues[0].message, /one auto method/);
    const overrides = resolveJobSpec(
      { datasetId, methods: [{ preset: "auto", utilization: { mode: "fc" } }] },
      context,
    );
    assert.equal(overrides.issues[0].field, "/body/methods/0/utilization");
    const stray = resolveJobSpec({ datasetId, methods: [{ preset: "gif", search: {} }] }, context);
    assert.equal(stray.issues[0].field, "/body/methods/0/search");
    const huge = resolveAuto({
      strengths: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8],
      replaceProbabilities: [0.1, 0.2, 0.3],
    });
    assert.match(huge.issues[0].message, /more than 24/);
  });
});

describe("selecting candidates", () => {
  const candidates = ["r", "a", "b", "c", "d"].map((label) => ({ label })) as never;
  const search = { candidates, minGain: 0.02, rungSeeds: [[0], [1, 2]], confidence: 0.9 };
  const runs = (seed: number, top1: number) => [{ seed, top1Accuracy: top1 }];

  it("keeps the reference and the better half, and names the best", () => {
    const scores = new Map([
      ["r", runs(0, 0.5)],
      ["a", runs(0, 0.4)],
      ["b", runs(0, 0.7)],
      ["c", runs(0, 0.6)],
      ["d", runs(0, 0.6)],
    ]);
    const out = selectCandidates(search, 0, scores);
    assert.deepEqual(out.survivors, ["r", "b", "c"]);
    assert.equal(out.chosen, "b");
    assert.equal(out.recommendation, "augment");
  });

  it("ranks only this rung's candidates, and chooses the reference below minGain", () => {
    const scores = new Map([
      ["r", [...runs(0, 0.5), ...runs(1, 0.5), ...runs(2, 0.5)]],
      ["a", runs(0, 0.9)], // dropped at rung 0: no run on rung 1's seeds
      ["b", [...runs(0, 0.52), ...runs(1, 0.51), ...runs(2, 0.51)]],
    ]);
    const out = selectCandidates(search, 1, scores);
    assert.deepEqual(
      out.ranking.map((s) => s.label),
      ["b", "r"],
    );
    assert.equal(out.chosen, "r");
    assert.equal(out.recommendation, "no_augmentation");
  });

  it("chooses a candidate only when the paired interval of its validation gain is above 0", () => {
    // 20 validation images, three seeds: "a" is right on 2 more images than the reference in every seed
    // (a gain of 0.1 that the interval may still not resolve), "b" on 10 more (resolved).
    const correct = (right: number) => Array.from({ length: 20 }, (_, i) => (i < right ? 1 : 0));
    const run = (seed: number, right: number) => ({
      seed,
      top1Accuracy: right / 20,
      correct: correct(right),
    });
    const three = (right: number) => [run(1, right), run(2, right), run(3, right)];
    const rung = { ...search, rungSeeds: [[1, 2, 3]] };
    const weak = selectCandidates(
      rung,
      0,
      new Map([
        ["r", three(10)],
        ["a", three(12)],
      ]),
    );
    assert.ok(weak.evidence!.gain > 0.09 && weak.evidence!.interval!.low <= 0, JSON.stringify(weak.evidence));
    assert.equal(weak.recommendation, "no_augmentation");
    const strong = selectCandidates(
      rung,
      0,
      new Map([
        ["r", three(8)],
        ["b", three(18)],
      ]),
    );
    assert.ok(strong.evidence!.interval!.low > 0);
    assert.equal(strong.chosen, "b");
    assert.deepEqual(
      strong.ranking[0].runs[0],
      { seed: 1, top1Accuracy: 0.9 },
      "the output keeps no per-image rows",
    );
  });
});
