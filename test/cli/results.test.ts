import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Job, MethodResult } from "../../cli/client/types.js";
import { formatMeanStd, percent, points } from "../../cli/results/format.js";
import { meanStd, pairedGain } from "../../cli/results/stats.js";
import { formatResultsTable, resultsData } from "../../cli/results/table.js";

function method(label: string, kind: "diffda" | "baseline", top1: number[], synthetic = 0): MethodResult {
  const runs = top1.map((t, seed) => ({
    seed,
    top1Accuracy: t,
    perClassAccuracy: [t, t],
    meanLoss: 0.5,
    sampleCount: 200,
    syntheticImages: synthetic,
    trainSeconds: 10 + seed,
  }));
  return {
    label,
    preset: label,
    kind,
    runs,
    top1Accuracy: meanStd(top1),
    perClassAccuracy: { mean: [null, null], std: [null, null] },
    gainOverBaseline: null,
    generation:
      synthetic > 0
        ? { images: synthetic * top1.length, seconds: 50, imagesPerSecond: (synthetic * top1.length) / 50 }
        : null,
  };
}

function job(methods: MethodResult[], seeds = [0, 1, 2]): Pick<Job, "spec" | "result"> {
  return {
    spec: { version: 1, name: null, datasetId: "d", seeds, methods: [], classifier: {}, shardSize: 64 },
    result: {
      classes: ["a", "b"],
      methods,
      stages: {
        train: { tasks: 9, seconds: 90.5, cpuSeconds: 170.25 },
        finetune: { tasks: 1, seconds: 312.4, cpuSeconds: null },
        generate: { tasks: 12, seconds: 5.25 },
      },
    },
  };
}

describe("results: statistics and formats", () => {
  test("mean ± sample std (n − 1); one value has no std; none has no mean", () => {
    const s = meanStd([0.6, 0.62, 0.64]);
    assert.ok(Math.abs((s.mean ?? 0) - 0.62) < 1e-12);
    assert.ok(Math.abs((s.std ?? 0) - 0.02) < 1e-12);
    assert.equal(s.n, 3);
    assert.deepEqual(meanStd([0.7]), { mean: 0.7, std: null, n: 1 });
    assert.deepEqual(meanStd([null, Number.NaN]), { mean: null, std: null, n: 0 });
  });

  test("mean ± std prints percent with two decimals; gains are signed points", () => {
    assert.equal(formatMeanStd(meanStd([0.6, 0.62, 0.64])), "62.00 ± 2.00");
    assert.equal(formatMeanStd(meanStd([0.6125])), "61.25");
    assert.equal(formatMeanStd({ mean: null, std: null, n: 0 }), "—");
    assert.equal(formatMeanStd(meanStd([0.015, 0.005]), { signed: true }), "+1.00 ± 0.71");
    assert.equal(formatMeanStd(meanStd([-0.0125]), { signed: true }), "-1.25");
    assert.equal(points(-0.00001), "0.00", "a rounded zero carries no sign");
    assert.equal(percent(0.5), "50.00");
    assert.equal(percent(null), "—");
  });

  test("gains are paired by seed: only seeds both ran count", () => {
    const base = method("no-augmentation", "baseline", [0.5, 0.6, 0.7]);
    const m = method("x", "diffda", [0.52, 0.64]);
    const gain = pairedGain(m, base);
    assert.equal(gain.n, 2);
    assert.ok(Math.abs((gain.mean ?? 0) - 0.03) < 1e-12);
    assert.ok(Math.abs((gain.std ?? 0) - Math.SQRT2 * 0.01) < 1e-12);
  });
});

describe("results: the table", () => {
  const data = job([
    method("no-augmentation", "baseline", [0.5, 0.52, 0.54]),
    method("traditional", "baseline", [0.51, 0.52, 0.56]),
    method("da-fusion", "diffda", [0.55, 0.56, 0.6], 150),
  ]);

  test("rows carry per-seed top-1, mean ± std and a gain over each baseline (none over itself)", () => {
    const rows = resultsData(data);
    assert.deepEqual(rows.baselines, ["no-augmentation", "traditional"]);
    const fusion = rows.rows[2];
    assert.deepEqual(fusion.perSeed, [0.55, 0.56, 0.6]);
    assert.equal(rows.rows[0].gains["no-augmentation"], null);
    assert.ok(Math.abs((fusion.gains["no-augmentation"]?.mean ?? 0) - 0.05) < 1e-12);
    assert.ok(Math.abs((fusion.gains.traditional?.mean ?? 0) - 0.04) < 1e-12);
    assert.equal(rows.testImages, 200);
  });

  test("the text table aligns its columns and prints the stages in pipeline order", () => {
    const text = formatResultsTable(data, {
      wallSeconds: { finetune: 312.4, generate: 65 },
      jobSeconds: 754,
    });
    const lines = text.split("\n");
    assert.match(lines[0], /^Top-1 accuracy \(%\) on 200 test images, 2 classes, seeds 0, 1, 2/);
    const header = lines.find((l) => l.startsWith("method"));
    assert.ok(header);
    assert.match(
      header,
      /seed 0 +seed 1 +seed 2 +mean ± std +Δ no-augmentation +Δ traditional +synthetic +gen img\/s/,
    );
    const fusion = lines.find((l) => l.startsWith("da-fusion"));
    assert.ok(fusion);
    assert.deepEqual(fusion.split(/ {2,}/), [
      "da-fusion",
      "55.00",
      "56.00",
      "60.00",
      "57.00 ± 2.65",
      "+5.00 ± 1.00",
      "+4.00 ± 0.00",
      "150",
      "9.00",
    ]);
    const base = lines.find((l) => l.startsWith("no-augmentation"));
    assert.ok(base?.includes("52.00 ± 2.00"));
    // Every row of the table ends at the same column (right-aligned numbers).
    const rows = lines.slice(lines.indexOf(header), lines.indexOf(header) + 5);
    assert.equal(new Set(rows.map((l) => l.length)).size, 1, rows.join("\n"));
    const stageLines = lines.slice(lines.findIndex((l) => l.startsWith("stage")) + 2);
    assert.deepEqual(
      stageLines.slice(0, 3).map((l) => l.split(/ {2,}/)),
      [
        ["finetune", "1", "312 s", "—", "5m12s"],
        ["generate", "12", "5.25 s", "—", "1m05s"],
        ["train", "9", "90.5 s", "170 s", "—"],
      ],
    );
    assert.equal(lines.at(-1), "Job wall time: 12m34s");
  });

  test("a result with each run's compute shows its steps and training top-1 (how well it fit)", () => {
    const withCompute = (m: MethodResult, steps: number, fit: number[]): MethodResult => ({
      ...m,
      runs: m.runs.map((run, i) => ({ ...run, steps, finalTrainAccuracy: fit[i] })),
    });
    const text = formatResultsTable(
      job([
        withCompute(method("no-augmentation", "baseline", [0.5, 0.52, 0.54]), 360, [0.9, 1, 0.95]),
        withCompute(method("da-fusion", "diffda", [0.55, 0.56, 0.6], 150), 360, [0.8, 0.85, 0.9]),
      ]),
    );
    const lines = text.split("\n");
    assert.match(lines.find((l) => l.startsWith("method")) ?? "", /steps +train top-1 +synthetic/);
    const base = lines.find((l) => l.startsWith("no-augmentation"))?.split(/ {2,}/) ?? [];
    assert.deepEqual(base.slice(-4), ["360", "95.00 ± 5.00", "0", "—"]);
    // Without them (older results) the columns are left out, as in the test above.
    assert.doesNotMatch(formatResultsTable(data), /train top-1/);
  });

  test("a job without a result has no table", () => {
    assert.throws(() => formatResultsTable({ ...data, result: null }), /no result/);
  });

  test("an auto method's search: what it chose, and each candidate's validation score", () => {
    const base = job([
      method("no-augmentation", "baseline", [0.5, 0.52, 0.54]),
      method("auto", "diffda", [0.6, 0.6, 0.62], 80),
    ]);
    const setting = (preset: string, strength: number | null, p: number | null) => ({
      preset,
      strength,
      replaceProbability: p,
    });
    const runs = (...top1: number[]) => top1.map((t, seed) => ({ seed, top1Accuracy: t }));
    const search = {
      label: "auto",
      validationImages: 10,
      candidates: [
        {
          label: "auto.c0",
          setting: setting("no-augmentation", null, null),
          validation: { mean: 0.5, runs: runs(0.5, 0.5, 0.5) },
          rungsReached: 2,
        },
        {
          label: "auto.c1",
          setting: setting("real-guidance", 0.3, 0.5),
          validation: { mean: 0.7, runs: runs(0.7, 0.7, 0.7) },
          rungsReached: 2,
        },
        {
          label: "auto.c2",
          setting: setting("diffusemix", null, 0.2),
          validation: { mean: 0.4, runs: runs(0.4) },
          rungsReached: 1,
        },
      ],
      rungs: [
        { seeds: [0], survivors: ["auto.c0", "auto.c1"] },
        { seeds: [1, 2], survivors: ["auto.c0", "auto.c1"] },
      ],
      chosen: { label: "auto.c1", setting: setting("real-guidance", 0.3, 0.5) },
      recommendation: "augment" as const,
      evidence: { gain: 0.2, interval: { low: 0.05, high: 0.35, level: 0.9, seeds: 3, images: 10 } },
      cpuSeconds: 123.4,
    };
    const text = formatResultsTable({ ...base, result: { ...base.result!, search } });
    assert.match(
      text,
      /auto: chose real-guidance strength 0\.3 p 0\.5 — validation top-1 70\.00 vs no-augmentation 50\.00 \(best gain \+20\.0, 90% interval \[\+5\.0, \+35\.0\]\); 2 candidates, 2 rung\(s\), 10 validation images/,
    );
    const rows = text.split("\n").filter((l) => l.startsWith("auto.c"));
    assert.deepEqual(
      rows.map((l) => l.split(/ {2,}/)),
      [
        ["auto.c1 *", "real-guidance strength 0.3 p 0.5", "70.00", "3", "2"],
        ["auto.c0", "no-augmentation", "50.00", "3", "2"],
        ["auto.c2", "diffusemix p 0.2", "40.00", "1", "1"],
      ],
    );
    const none = {
      ...search,
      chosen: { label: "auto.c0", setting: search.candidates[0].setting },
      recommendation: "no_augmentation" as const,
    };
    assert.match(
      formatResultsTable({ ...base, result: { ...base.result!, search: none } }),
      /no candidate beat no-augmentation/,
    );
    assert.doesNotMatch(formatResultsTable(base), /Search/);
  });
});
