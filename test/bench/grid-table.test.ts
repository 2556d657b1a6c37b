/**
 * The grid's pure parts: configuration checks, cells and fingerprints, the table's statistics (mean ±
 * std, gains paired by seed, cost), staleness, the Markdown writer and the time estimate.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import {
  type Cell,
  gridCells,
  resolveSelection,
  type SelectionOptions,
  sweepCells,
  sweepLabel,
} from "../../bench/grid/cells.js";
import { GridConfigError, loadGridConfig, parseGridConfig } from "../../bench/grid/config.js";
import { estimateJob, jobWork } from "../../bench/grid/estimate.js";
import {
  formatPercent,
  formatSeconds,
  renderDocument,
  replaceSection,
  resultsMarkdown,
  setupMarkdown,
} from "../../bench/grid/markdown.js";
import { figures, gainColor, ticks } from "../../bench/grid/plots.js";
import { pairedGain, seedStats } from "../../bench/grid/stats.js";
import { type CellRecord, cellStatus, mergeCell, type StoredMethod } from "../../bench/grid/store.js";
import { buildTable } from "../../bench/grid/table.js";
import { UsageError } from "../../cli/args.js";
import type { MethodCpu } from "../../cli/client/types.js";
import { TEXTURE_CLASSES } from "../../shared/data/index.js";

/** Equal up to the 6 significant digits the table keeps. */
const close = (actual: number | null, expected: number, what = "") =>
  assert.ok(
    actual !== null && Math.abs(actual - expected) <= 1e-6 * Math.max(1, Math.abs(expected)),
    `${what}: ${actual} ≠ ${expected}`,
  );

/** A small valid configuration (the JSON form). */
function rawConfig(): Record<string, unknown> {
  return {
    name: "test grid",
    description: "for tests",
    dataset: "fashion-mnist",
    tasks: [
      { id: "seen", title: "Seen", description: "d", classes: ["trouser", "coat", "sneaker"] },
      { id: "novel", title: "Novel", description: "d", classes: ["sandal", "bag"] },
    ],
    shots: [1, 5],
    seeds: [0, 1, 2],
    baselines: ["no-augmentation", "traditional"],
    methods: ["real-guidance", "da-fusion", "diff-mix"],
    classifier: { labelSmoothing: 0.1 },
    budget: [
      {
        path: "finetuning.textualInversion.maxTrainSteps",
        value: 500,
        paper: 2000,
        methods: ["da-fusion", "diff-mix"],
        reason: "time",
      },
      {
        path: "finetuning.lora.maxTrainSteps",
        value: 250,
        paper: 500,
        methods: ["diff-mix"],
        reason: "time",
      },
      { path: "classifier.epochs", value: 30, paper: "128", reason: "time" },
      { path: "dataset.testPerClass", value: 200, paper: "all", reason: "time" },
    ],
    notes: [{ what: "model", paper: "SD 1.5", here: "kit", reason: "offline" }],
    sweep: {
      method: "da-fusion",
      task: "seen",
      shots: 5,
      seeds: [0, 1],
      strength: [0.5, 0.9],
      replaceProbability: [0.3, 0.7],
      baselines: ["no-augmentation"],
    },
  };
}

const config = parseGridConfig(rawConfig());
const all = (options: SelectionOptions = {}) => resolveSelection(config, options);

/** A stored method for a cell's method with a given top-1 and CPU. */
function stored(cell: Cell, label: string, top1: number, cpu: Partial<MethodCpu> = {}): StoredMethod {
  const method = cell.methods.find((m) => m.label === label);
  assert.ok(method, label);
  return {
    label,
    preset: method.preset,
    kind: method.kind,
    fingerprint: method.fingerprint,
    jobId: `job-${cell.id}`,
    modelDigest: "kit-a",
    ...(method.sweep ? { sweep: method.sweep } : {}),
    top1,
    perClass: [top1, top1],
    meanLoss: 1,
    testImages: 400,
    syntheticImages: method.kind === "diffda" ? 10 : 0,
    trainSeconds: 3,
    generation: method.kind === "diffda" ? { images: 10, seconds: 1 } : null,
    cpuSeconds: {
      finetune: 0,
      generate: 0,
      train: 2,
      evaluate: 0.5,
      total: 2.5,
      perSyntheticImage: null,
      perSyntheticImageWithFinetune: null,
      finetuneSharedWith: [],
      ...cpu,
    },
  };
}

/** A cell record holding `top1` per label. */
function record(
  cell: Cell,
  top1: Record<string, number>,
  cpu: Record<string, Partial<MethodCpu>> = {},
): CellRecord {
  return {
    format: 1,
    id: cell.id,
    kind: cell.kind,
    task: cell.task.id,
    shots: cell.shots,
    seed: cell.seed,
    classes: cell.task.classes,
    dataset: { trainCount: 10, testCount: 400 },
    classifier: cell.classifier,
    methods: Object.fromEntries(
      Object.entries(top1).map(([label, value]) => [label, stored(cell, label, value, cpu[label])]),
    ),
    jobs: [
      {
        id: `job-${cell.id}`,
        gateway: "embedded:x",
        methods: Object.keys(top1),
        submittedAt: "2026-01-01T00:00:00Z",
        startedAt: "2026-01-01T00:00:00Z",
        finishedAt: "2026-01-01T00:10:00Z",
        wallSeconds: 600,
        stages: { train: { tasks: 5, seconds: 10, cpuSeconds: 12 } },
      },
    ],
  };
}

const seen5 = (seed: number) => {
  const cell = gridCells(config, all({ tasks: ["seen"], shots: [5], seeds: [seed] }))[0];
  assert.equal(cell.id, `seen-5shot-seed${seed}`);
  return cell;
};

describe("grid configuration", () => {
  test("the committed grid.json loads; its 5-shot grid and sweep are 9 jobs of 10 and 3 of 13 methods", async () => {
    const committed = await loadGridConfig();
    const selection = resolveSelection(committed, { shots: [5], sweep: true });
    const grid = gridCells(committed, selection);
    const sweep = sweepCells(committed, selection);
    assert.equal(grid.length, 9);
    // The two baselines, the seven presets and auto.
    assert.ok(grid.every((c) => c.methods.length === 10));
    const auto = grid[0].methods.find((m) => m.label === "auto");
    assert.ok(auto !== undefined);
    assert.equal(auto.kind, "diffda");
    // The search tries its presets with the grid's budget for them (TI at 500 steps for da-fusion).
    const presets = (auto.request as { search: { presets: { preset: string; finetuning?: unknown }[] } })
      .search.presets;
    assert.deepEqual(
      presets.map((p) => p.preset),
      ["real-guidance", "da-fusion", "diffusemix"],
    );
    assert.equal(
      (presets[1].finetuning as { textualInversion: { maxTrainSteps: number } }).textualInversion
        .maxTrainSteps,
      500,
    );
    assert.deepEqual(
      committed.tasks.map((t) => [t.id, t.dataset]),
      [
        ["seen", "fashion-mnist"],
        ["novel", "fashion-mnist"],
        ["ood", "textures"],
      ],
    );
    // The ood task is every class of the generated built-in, drawn like the others.
    assert.deepEqual(committed.tasks.find((t) => t.id === "ood")?.classes, [...TEXTURE_CLASSES]);
    const ood = grid.find((c) => c.id === "ood-5shot-seed0");
    assert.equal(ood?.dataset.builtin, "textures");
    assert.equal(ood?.dataset.testPerClass, 200);
    assert.equal(sweep.length, 3);
    assert.ok(sweep.every((c) => c.methods.length === 13 && c.shots === 5 && c.task.id === "seen"));
    assert.deepEqual(committed.tasks.find((t) => t.id === "novel")?.classes, [
      "sandal",
      "bag",
      "sneaker",
      "ankle boot",
    ]);
    assert.ok(
      committed.budget.every((b) => b.reason.length > 20),
      "every deviation says why",
    );
  });

  test("a budget entry's paper value must be what the preset holds", () => {
    const raw = rawConfig();
    (raw.budget as { paper: unknown }[])[0].paper = 1000;
    assert.throws(
      () => parseGridConfig(raw),
      (e: Error) =>
        e instanceof GridConfigError &&
        /budget\[0\]\.paper: da-fusion's preset holds 2000 at finetuning\.textualInversion\.maxTrainSteps, not 1000/.test(
          e.message,
        ),
    );
  });

  test("unknown methods, components a preset lacks, a missing reason and oversized sweeps are refused", () => {
    const cases: [(raw: Record<string, unknown>) => void, RegExp][] = [
      [(raw) => void (raw.methods = ["da-fusion", "dafusion"]), /methods: unknown DiffDA method "dafusion"/],
      [
        (raw) =>
          void (raw.budget = [
            { path: "generation.strength", value: 0.5, paper: "x", methods: ["traditional"], reason: "r" },
          ]),
        /traditional has no generation component/,
      ],
      [
        (raw) => void (raw.budget = [{ path: "classifier.epochs", value: 3, paper: "128" }]),
        /budget\[0\]\.reason: must be a non-empty string/,
      ],
      [
        (raw) => void (raw.budget = [{ path: "model.x", value: 3, paper: 1, reason: "r" }]),
        /must start with/,
      ],
      [
        (raw) =>
          void ((raw.sweep as Record<string, unknown>).strength = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]),
        /17 methods in one job; a job holds at most 16/,
      ],
      [
        (raw) => void ((raw.tasks as Record<string, unknown>[])[1].dataset = "cifar10"),
        /tasks\[1\]\.dataset: unknown built-in dataset "cifar10"; known: fashion-mnist, mnist, textures/,
      ],
      [(raw) => void (raw.dataset = "imagenet"), /: dataset: unknown built-in dataset "imagenet"/],
      [
        (raw) => void ((raw.sweep as Record<string, unknown>).method = "gif"),
        /"gif" is not one of the grid's methods/,
      ],
      [
        (raw) => void ((raw.sweep as Record<string, unknown>).method = "real-guidance"),
        /real-guidance takes no strength and replacement probability/,
      ],
    ];
    for (const [change, message] of cases) {
      const raw = rawConfig();
      change(raw);
      assert.throws(() => parseGridConfig(raw), message);
    }
  });

  test("flags naming an unknown task, shot count or method are usage errors that list the known ones", () => {
    assert.throws(() => all({ tasks: ["unseen"] }), /unknown task "unseen"; the grid's tasks: seen, novel/);
    assert.throws(() => all({ shots: [3] }), /3 shots is not in the grid; its shots: 1, 5/);
    assert.throws(
      () => all({ methods: ["da-fusion", "mixup"] }),
      (e: Error) => e instanceof UsageError,
    );
    assert.throws(() => all({ methods: ["traditional"] }), /names no DiffDA method/);
    const noSweep = parseGridConfig({ ...rawConfig(), sweep: null });
    assert.throws(() => resolveSelection(noSweep, { sweepOnly: true }), /defines no sweep/);
  });
});

describe("grid cells", () => {
  test("one job per (task, shots, seed), seed 0 of every task first; the dataset seed is the draw", () => {
    const cells = gridCells(config, all());
    assert.deepEqual(
      cells.map((c) => c.id),
      [
        "seen-1shot-seed0",
        "novel-1shot-seed0",
        "seen-1shot-seed1",
        "novel-1shot-seed1",
        "seen-1shot-seed2",
        "novel-1shot-seed2",
        "seen-5shot-seed0",
        "novel-5shot-seed0",
        "seen-5shot-seed1",
        "novel-5shot-seed1",
        "seen-5shot-seed2",
        "novel-5shot-seed2",
      ],
    );
    const cell = cells[8];
    assert.deepEqual(cell.dataset, {
      builtin: "fashion-mnist",
      shots: 5,
      seed: 1,
      classes: ["trouser", "coat", "sneaker"],
      testPerClass: 200,
      name: "bench-grid seen 5-shot seed 1",
    });
    assert.deepEqual(cell.classifier, { labelSmoothing: 0.1, epochs: 30 });
    assert.deepEqual(
      cell.methods.map((m) => [m.label, m.kind]),
      [
        ["no-augmentation", "baseline"],
        ["traditional", "baseline"],
        ["real-guidance", "diffda"],
        ["da-fusion", "diffda"],
        ["diff-mix", "diffda"],
      ],
    );
    assert.deepEqual(cell.methods[4].request, {
      preset: "diff-mix",
      label: "diff-mix",
      finetuning: { textualInversion: { maxTrainSteps: 500 }, lora: { maxTrainSteps: 250 } },
    });
    assert.deepEqual(cell.methods[2].request, { preset: "real-guidance", label: "real-guidance" });
  });

  test("a task may draw from its own built-in; the other tasks' cells and fingerprints do not change", () => {
    const raw = rawConfig();
    (raw.tasks as Record<string, unknown>[]).push({
      id: "ood",
      title: "Out of domain",
      description: "d",
      dataset: "textures",
      classes: ["stripes", "rings"],
    });
    const mixed = parseGridConfig(raw);
    const cells = gridCells(mixed, resolveSelection(mixed, { shots: [5], seeds: [0] }));
    assert.deepEqual(
      cells.map((c) => [c.id, c.dataset.builtin]),
      [
        ["seen-5shot-seed0", "fashion-mnist"],
        ["novel-5shot-seed0", "fashion-mnist"],
        ["ood-5shot-seed0", "textures"],
      ],
    );
    assert.deepEqual(
      cells[0].methods.map((m) => m.fingerprint),
      seen5(0).methods.map((m) => m.fingerprint),
    );
    assert.match(
      setupMarkdown(mixed),
      /- Datasets: built-in `fashion-mnist` \(seen, novel\), `textures` \(ood\), few-shot draws at 1, 5 shots/,
    );
    assert.match(setupMarkdown(config), /- Dataset: built-in `fashion-mnist`, few-shot draws/);
  });

  test("fingerprints are stable, and change only for the methods a budget change touches", () => {
    const a = seen5(0);
    assert.deepEqual(
      seen5(0).methods.map((m) => m.fingerprint),
      a.methods.map((m) => m.fingerprint),
    );
    const raw = rawConfig();
    (raw.budget as { value: unknown }[])[1].value = 100; // LoRA steps: Diff-Mix only
    const changed = gridCells(parseGridConfig(raw), all({ tasks: ["seen"], shots: [5], seeds: [0] }))[0];
    const differs = a.methods
      .filter((m, i) => m.fingerprint !== changed.methods[i].fingerprint)
      .map((m) => m.label);
    assert.deepEqual(differs, ["diff-mix"]);
    assert.notEqual(
      seen5(1).methods[0].fingerprint,
      a.methods[0].fingerprint,
      "another draw, another experiment",
    );
  });

  test("the sweep is one job per seed of strength × p variants beside its baseline", () => {
    const cells = sweepCells(config, all({ sweep: true }));
    assert.deepEqual(
      cells.map((c) => c.id),
      ["sweep-da-fusion-seen-5shot-seed0", "sweep-da-fusion-seen-5shot-seed1"],
    );
    assert.deepEqual(
      cells[0].methods.map((m) => m.label),
      ["no-augmentation", "da-fusion-s50-p30", "da-fusion-s50-p70", "da-fusion-s90-p30", "da-fusion-s90-p70"],
    );
    assert.deepEqual(cells[0].methods[2].request, {
      preset: "da-fusion",
      label: "da-fusion-s50-p70",
      finetuning: { textualInversion: { maxTrainSteps: 500 } },
      generation: { strength: 0.5 },
      utilization: { replaceProbability: 0.7 },
    });
    assert.equal(sweepLabel("da-fusion", 0.3, 0.5), "da-fusion-s30-p50");
    assert.deepEqual(
      sweepCells(config, all({ sweep: true, seeds: [4] })).map((c) => c.seed),
      [4],
      "--seeds applies to the sweep",
    );
    assert.deepEqual(gridCells(config, all({ sweepOnly: true })), [], "--sweep-only runs no grid cell");
  });
});

describe("grid statistics", () => {
  test("mean ± sample std over seeds; gains are differences paired by seed, unpaired seeds left out", () => {
    const method = new Map([
      [2, 0.65],
      [0, 0.6],
      [1, 0.7],
    ]);
    const baseline = new Map([
      [0, 0.5],
      [1, 0.6],
      [2, 0.7],
      [3, 0.9],
    ]);
    const own = seedStats(method);
    assert.deepEqual(own.seeds, [0, 1, 2]);
    assert.deepEqual(own.values, [0.6, 0.7, 0.65]);
    close(own.mean, 0.65, "mean");
    close(own.std, 0.05, "std");
    const gain = pairedGain(method, baseline);
    assert.deepEqual(gain.seeds, [0, 1, 2]);
    close(gain.mean, 0.05, "gain");
    close(gain.std, Math.sqrt((0.05 ** 2 + 0.05 ** 2 + 0.1 ** 2) / 2), "gain std");
    // Unpaired, the spread of the draws (std 0.1 of the baseline) would swamp the gain's.
    const single = pairedGain(new Map([[0, 0.7]]), baseline);
    assert.equal(single.n, 1);
    assert.equal(single.std, null, "one seed has no std");
    assert.equal(pairedGain(new Map([[5, 0.7]]), baseline).mean, null, "no common seed, no gain");
  });

  test("the table pairs each method with each baseline by seed and averages the cost over jobs", () => {
    const tops = [
      {
        "no-augmentation": 0.5,
        traditional: 0.52,
        "real-guidance": 0.55,
        "da-fusion": 0.6,
        "diff-mix": 0.58,
      },
      {
        "no-augmentation": 0.6,
        traditional: 0.61,
        "real-guidance": 0.62,
        "da-fusion": 0.66,
        "diff-mix": 0.7,
      },
    ];
    const records = tops.map((t, seed) =>
      record(seen5(seed), t, {
        "da-fusion": {
          finetune: 40 + seed * 10,
          generate: 5,
          perSyntheticImage: 0.5,
          perSyntheticImageWithFinetune: 4.5,
        },
        "diff-mix": { finetune: 60, finetuneSharedWith: ["diff-aug"] },
      }),
    );
    const table = buildTable(config, records, { modelDigest: "kit-a", now: new Date(0) });
    assert.equal(table.generatedAt, "1970-01-01T00:00:00.000Z");
    assert.deepEqual(
      table.rows.map((r) => [r.task, r.shots, r.method]),
      ["no-augmentation", "traditional", "real-guidance", "da-fusion", "diff-mix"].map((m) => ["seen", 5, m]),
    );
    const fusion = table.rows.find((r) => r.method === "da-fusion");
    assert.ok(fusion);
    close(fusion.top1.mean, 0.63, "top-1");
    close(fusion.top1.std, Math.sqrt(2 * 0.03 ** 2), "top-1 std");
    close(fusion.gains["no-augmentation"]?.mean ?? null, (0.1 + 0.06) / 2, "over no-aug");
    close(fusion.gains.traditional?.mean ?? null, (0.08 + 0.05) / 2, "over traditional");
    close(fusion.cost.finetune.mean, 45, "fine-tune CPU");
    close(fusion.cost.finetune.std, Math.SQRT2 * 5, "fine-tune CPU std");
    close(fusion.cost.perSyntheticImageWithFinetune.mean, 4.5, "per image");
    close(fusion.cost.syntheticImages.mean, 10, "images");
    assert.deepEqual(table.rows.find((r) => r.method === "diff-mix")?.cost.finetuneSharedWith, ["diff-aug"]);
    const base = table.rows.find((r) => r.method === "no-augmentation");
    assert.equal(base?.gains["no-augmentation"], null);
    close(base?.gains.traditional?.mean ?? null, -0.015, "baseline over the other baseline");
    assert.equal(table.jobs.length, 2);
    assert.equal(table.jobs[0].cpuSeconds, 12);
    assert.equal(table.staleResults, 0);
  });

  test("results made under another configuration or another kit are stale and left out", () => {
    const fresh = record(seen5(0), { "no-augmentation": 0.5, "da-fusion": 0.6 });
    const older = structuredClone(fresh) as CellRecord & { methods: Record<string, { fingerprint: string }> };
    older.methods["da-fusion"].fingerprint = "0000000000000000";
    const table = buildTable(config, [older], { modelDigest: "kit-a" });
    assert.deepEqual(
      table.rows.map((r) => r.method),
      ["no-augmentation"],
    );
    assert.equal(table.staleResults, 1);
    assert.equal(buildTable(config, [fresh], { modelDigest: "kit-b" }).rows.length, 0, "another kit");
    assert.equal(
      buildTable(config, [fresh], { modelDigest: null }).rows.length,
      2,
      "kit unknown: not judged",
    );
    const status = cellStatus(seen5(0), older, "kit-a");
    assert.deepEqual(
      status.todo.map((m) => m.label),
      ["traditional", "real-guidance", "da-fusion", "diff-mix"],
    );
    assert.deepEqual(status.stale, ["da-fusion"]);
  });

  test("a later job adds methods to a cell and keeps the finished ones", () => {
    const first = record(seen5(0), { "no-augmentation": 0.5, "da-fusion": 0.6 });
    const second = record(seen5(0), { "diff-mix": 0.7 });
    const {
      methods,
      jobs: [job],
      ...rest
    } = second;
    const merged = mergeCell(first, { ...rest, methods: { ...methods }, job: { ...job, id: "job-2" } });
    assert.deepEqual(Object.keys(merged.methods), ["no-augmentation", "da-fusion", "diff-mix"]);
    assert.deepEqual(
      merged.jobs.map((j) => j.id),
      ["job-seen-5shot-seed0", "job-2"],
    );
  });

  test("the sweep table pairs every variant with the baseline by seed", () => {
    const cells = sweepCells(config, all({ sweep: true }));
    const records = cells.map((cell, seed) =>
      record(cell, {
        "no-augmentation": 0.5 + seed * 0.1,
        "da-fusion-s50-p30": 0.52 + seed * 0.1,
        "da-fusion-s90-p70": 0.58 + seed * 0.1,
      }),
    );
    const sweep = buildTable(config, records).sweep;
    assert.ok(sweep);
    assert.deepEqual(
      sweep.rows.map((r) => [r.strength, r.replaceProbability]),
      [
        [0.5, 0.3],
        [0.9, 0.7],
      ],
    );
    close(sweep.rows[1].gain?.mean ?? null, 0.08, "gain");
    close(sweep.rows[1].gain?.std ?? null, 0, "the same gain on both seeds");
    close(sweep.baselineTop1?.mean ?? null, 0.55, "baseline");
  });
});

describe("grid markdown and figures", () => {
  test("percentages, signed gains, seed counts and seconds are formatted for reading", () => {
    assert.equal(formatPercent({ mean: 0.7134, std: 0.021, n: 3 }), "71.3 ± 2.1");
    assert.equal(formatPercent({ mean: 0.012, std: 0.008, n: 3 }, { signed: true }), "+1.2 ± 0.8");
    assert.equal(formatPercent({ mean: -0.012, std: null, n: 1 }, { signed: true }), "-1.2");
    assert.equal(formatPercent({ mean: 0.5, std: 0.1, n: 2 }, { n: 3 }), "50.0 ± 10.0 (n=2)");
    assert.equal(formatPercent({ mean: null, std: null, n: 0 }), "—");
    assert.deepEqual([0, 0.004, 1.234, 12.34, 1234.5].map(formatSeconds), [
      "0",
      "4.0e-3",
      "1.23",
      "12.3",
      "1235",
    ]);
  });

  test("the results section has a row per method with gains over each baseline, the cost and the sweep", () => {
    const records = [0, 1].map((seed) =>
      record(seen5(seed), {
        "no-augmentation": 0.5,
        traditional: 0.52 + seed * 0.02,
        "real-guidance": 0.55,
        "da-fusion": 0.6 + seed * 0.02,
        "diff-mix": 0.58,
      }),
    );
    const table = buildTable(config, records);
    const made = figures(table);
    assert.deepEqual(
      made.map((f) => f.file),
      ["seen-5shot.svg", "cost-5shot.svg"],
    );
    const text = resultsMarkdown(table, made, "benchmark");
    assert.match(text, /\| method \| Seen: top-1 \| Δ no-augmentation \| Δ traditional \|/);
    assert.match(text, /\| da-fusion \| 61\.0 ± 1\.4 \| \+11\.0 ± 1\.4 \| \+8\.0 ± 0\.0 \|/);
    assert.match(text, /\| no-augmentation \(baseline\) \| 50\.0 ± 0\.0 \| — \| -3\.0 ± 1\.4 \|/);
    assert.match(text, /!\[Seen, 5-shot: top-1 over seeds\]\(benchmark\/seen-5shot\.svg\)/);
    assert.match(text, /\| da-fusion \| Seen \| 10 \|/);
    assert.match(text, /2 jobs, 20 min 00 s of job wall time/);
    assert.match(resultsMarkdown(buildTable(config, []), [], "benchmark"), /No finished cell yet/);
  });

  test("the setup section lists every budget deviation with the paper's value and the reason", () => {
    const text = setupMarkdown(config);
    assert.match(
      text,
      /\| `finetuning\.textualInversion\.maxTrainSteps` \| da-fusion, diff-mix \| 2000 \| 500 \| time \|/,
    );
    assert.match(text, /\| `classifier\.epochs` \| all \(job\) \| 128 \| 30 \| time \|/);
    assert.match(text, /\| model \| SD 1\.5 \| kit \| offline \|/);
    assert.match(text, /strength ∈ \{0\.5, 0\.9\} × replacement probability p ∈ \{0\.3, 0\.7\}/);
  });

  test("generated sections replace their old content and leave the prose around them alone", async () => {
    const dir = await mkdtemp(join(tmpdir(), "diffda-grid-doc-"));
    try {
      const fresh = await renderDocument(join(dir, "missing.md"), "SETUP 1", "RESULTS 1");
      assert.match(fresh, /^# Benchmark/);
      assert.ok(fresh.indexOf("SETUP 1") < fresh.indexOf("## Results") && fresh.includes("RESULTS 1"));
      const prose = `${fresh.replace("## Results", "Hand-written prose.\n\n## Results")}\nTrailing notes.\n`;
      const again = replaceSection(replaceSection(prose, "setup", "SETUP 2"), "results", "RESULTS 2");
      assert.ok(again.includes("SETUP 2") && again.includes("RESULTS 2"));
      assert.ok(!again.includes("SETUP 1") && !again.includes("RESULTS 1"));
      assert.ok(again.includes("Hand-written prose.") && again.endsWith("Trailing notes.\n"));
      assert.equal(replaceSection(again, "results", "RESULTS 2"), again, "idempotent");
      assert.match(
        replaceSection("# Doc\n", "results", "X"),
        /# Doc\n\n<!-- bench:grid:results:begin.*-->\n\nX\n\n/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("figure helpers: round ticks, a diverging colour scale, a heat map cell per variant", () => {
    assert.deepEqual(ticks(52.3, 71.8), [50, 55, 60, 65, 70, 75]);
    assert.deepEqual(ticks(-2.5, 6), [-4, -2, 0, 2, 4, 6]);
    assert.equal(gainColor(0), "rgb(255,255,255)");
    assert.equal(gainColor(10), "rgb(59,120,196)", "saturates at the scale");
    assert.equal(gainColor(-5), "rgb(196,78,82)");
    assert.equal(gainColor(null), "#eeeeee");
    const cells = sweepCells(config, all({ sweep: true }));
    const table = buildTable(
      config,
      cells.map((cell) => record(cell, { "no-augmentation": 0.5, "da-fusion-s50-p30": 0.53 })),
    );
    const heat = figures(table).find((f) => f.file === "sweep-da-fusion-seen-5shot.svg");
    assert.ok(heat);
    assert.equal(heat.svg.match(/<rect x=/g)?.length, 4, "strength 2 × p 2");
    assert.match(heat.svg, />53\.0%</);
    assert.match(heat.svg, />\+3\.0 pts</);
  });
});

describe("grid estimate", () => {
  test("work per job: synthetic images, distinct fine-tuning tasks, classifier image-epochs, test images", () => {
    const cell = seen5(0); // 3 classes × 5 shots = 15 real images
    const work = jobWork(cell, cell.methods);
    assert.equal(work.syntheticImages, 3 * 15 * 5);
    assert.equal(work.finetuneTasks, 2, "DA-Fusion's TI and Diff-Mix's TI+LoRA");
    assert.equal(work.textualInversionSteps, 1000);
    assert.equal(work.loraSteps, 250);
    // Real-only, LRR and GRR train on 15 images an epoch; Real-Guidance's full concatenation on 15 × 6
    // (batch 128: no full batch, nothing dropped).
    assert.equal(work.trainImageEpochs, 30 * (15 * 4 + 15 * 6));
    assert.equal(work.trainEpochs, 30 * 5);
    const batch8 = { ...cell, classifier: { ...cell.classifier, batchSize: 8 } };
    assert.equal(
      jobWork(batch8, cell.methods).trainImageEpochs,
      30 * (8 * 4 + 88),
      "last partial batch dropped",
    );
    assert.equal(work.testImages, 5 * 3 * 200);
    const estimate = estimateJob(cell, cell.methods, {
      measured: "test",
      cpuSecondsPerSyntheticImage: { "real-guidance": 0.01, "da-fusion": 0.1, "diff-mix": 0.1 },
      cpuSecondsPerFinetuneStep: { textualInversion: 0.1, lora: 0.2 },
      cpuSecondsPerFinetuneTask: 5,
      cpuSecondsPerTrainImageEpoch: 0.01,
      cpuSecondsPerTrainEpoch: 0.5,
      cpuSecondsPerTestImage: 0.001,
      wallSecondsPerCpuSecond: 0.5,
      stackStartSeconds: 10,
    });
    close(estimate.cpuSeconds.generate, 75 * 0.01 + 75 * 0.1 * 2, "generation");
    close(estimate.cpuSeconds.finetune, 2 * 5 + 1000 * 0.1 + 250 * 0.2, "fine-tuning");
    close(estimate.cpuSeconds.train, 30 * 150 * 0.01 + 150 * 0.5, "classifier");
    close(estimate.wallSeconds, estimate.cpuSeconds.total * 0.5, "wall");
  });
});
