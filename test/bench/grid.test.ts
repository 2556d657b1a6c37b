/**
 * `npm run bench:grid` end to end on the tiny test models: the real embedded stack (gateway + the three
 * services as their own processes), every preset and both baselines through the REST API on a 1-shot
 * two-class task, then the resume behaviour — a second run skips every finished cell without starting
 * anything, and a run that finds pending jobs follows the one the gateway still holds and resubmits the
 * one it lost. Wiring, not accuracy: the budget is a few steps of everything.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm, stat, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { after, before, describe, test } from "node:test";
import { runGridCommand } from "../../bench/grid/command.js";
import type { CellRecord } from "../../bench/grid/store.js";
import type { GridTable } from "../../bench/grid/table.js";
import { TINY, TINY_EDIT, type TinyModels, tinyModels } from "../support/models.js";

const ALL = ["real-guidance", "gif", "diffusemix", "da-fusion", "diff-aug", "diff-mix", "diff-ii"];
const FINETUNED = ["da-fusion", "diff-aug", "diff-mix", "diff-ii"];

/** A grid of one cell per preset set: wiring budget (a few steps of everything). */
const CONFIG = {
  name: "tiny wiring grid",
  description: "Every preset end to end on the tiny test models.",
  dataset: "fashion-mnist",
  tasks: [{ id: "pair", title: "Pair", description: "a look-alike pair", classes: ["sneaker", "bag"] }],
  shots: [1],
  seeds: [0],
  baselines: ["no-augmentation", "traditional"],
  methods: ALL,
  classifier: { epochs: 2, batchSize: 2 },
  budget: [
    {
      path: "finetuning.textualInversion.maxTrainSteps",
      value: 2,
      paper: 2000,
      methods: FINETUNED,
      reason: "wiring",
    },
    {
      path: "finetuning.lora.maxTrainSteps",
      value: 2,
      paper: 500,
      methods: FINETUNED.slice(1),
      reason: "wiring",
    },
    { path: "generation.syntheticPerReal", value: 1, paper: 5, methods: ALL, reason: "wiring" },
    {
      path: "generation.sampling.numInferenceSteps",
      value: 3,
      paper: "25 (DiffuseMix 100)",
      methods: ALL,
      reason: "wiring",
    },
    { path: "generation.inversionSteps", value: 2, paper: 200, methods: ["diff-ii"], reason: "wiring" },
    { path: "dataset.testPerClass", value: 4, paper: "1000", reason: "wiring" },
  ],
  sweep: {
    method: "da-fusion",
    task: "pair",
    shots: 1,
    seeds: [0],
    strength: [0.5, 0.9],
    replaceProbability: [0.5],
    baselines: ["no-augmentation"],
  },
};

describe("bench:grid on the embedded stack", () => {
  let models: TinyModels;
  let dir: string;
  let args: string[];
  let env: Record<string, string | undefined>;

  before(async () => {
    models = await tinyModels();
    dir = await mkdtemp(join(tmpdir(), "diffda-grid-"));
    await writeFile(join(dir, "grid.json"), JSON.stringify(CONFIG));
    args = [
      "--config",
      join(dir, "grid.json"),
      "--sweep",
      "--out",
      join(dir, "results"),
      "--doc",
      join(dir, "docs", "benchmark.md"),
      "--data-dir",
      join(dir, "data"),
    ];
    env = {
      ...process.env,
      MODEL_DIR: models.root,
      BASE_MODEL: TINY,
      INSTRUCT_MODEL: TINY_EDIT,
      ORT_THREADS: "1",
    };
    delete env.DIFFDA_URL;
  });

  after(async () => {
    await models?.remove();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function grid(extra: string[] = []): Promise<{ code: number; out: string; err: string }> {
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    let out = "";
    let err = "";
    stdout.on("data", (chunk) => void (out += chunk));
    stderr.on("data", (chunk) => void (err += chunk));
    const code = await runGridCommand(
      [...args, ...extra],
      { stdout, stderr, env },
      new AbortController().signal,
    );
    return { code, out, err };
  }

  const cellFile = (id: string) => join(dir, "results", "grid", `${id}.json`);
  const readCell = async (id: string) => JSON.parse(await readFile(cellFile(id), "utf8")) as CellRecord;

  test("runs every preset and both baselines through the gateway and writes the table, docs and figures", async () => {
    const { code, out, err } = await grid();
    assert.equal(code, 0, `${out}\n${err}`);
    assert.match(out, /2 cells selected, 0 finished, 2 to run/);
    assert.match(out, /embedded stack up/);

    const table = JSON.parse(await readFile(join(dir, "results", "diffda-grid.json"), "utf8")) as GridTable;
    const methods = ["no-augmentation", "traditional", ...ALL];
    assert.deepEqual(
      table.rows.map((r) => r.method),
      methods,
      "a row per method",
    );
    for (const row of table.rows) {
      assert.equal(row.task, "pair");
      assert.equal(row.top1.n, 1, row.method);
      const top1 = row.top1.mean as number;
      assert.ok(Number.isFinite(top1) && top1 >= 0 && top1 <= 1, `${row.method}: top-1 ${top1}`);
      for (const baseline of ["no-augmentation", "traditional"]) {
        const gain = row.gains[baseline];
        if (baseline === row.method) assert.equal(gain, null);
        else assert.ok(gain !== null && Number.isFinite(gain.mean), `${row.method} over ${baseline}`);
      }
      // Every stage of every run reported its CPU, through proto, task outputs and the job result.
      assert.ok((row.cost.train.mean as number) > 0, `${row.method} train CPU`);
      assert.ok((row.cost.evaluate.mean as number) > 0, `${row.method} evaluate CPU`);
      if (row.kind === "diffda") {
        assert.equal(row.cost.syntheticImages.mean, 2, `${row.method}: 1 per real × 2 real images`);
        assert.ok((row.cost.perSyntheticImage.mean as number) > 0, `${row.method} generation CPU`);
      }
      assert.equal(
        (row.cost.finetune.mean as number) > 0,
        FINETUNED.includes(row.method),
        `${row.method} fine-tune CPU`,
      );
    }
    const mix = table.rows.find((r) => r.method === "diff-mix");
    assert.deepEqual(
      mix?.cost.finetuneSharedWith,
      ["diff-aug", "diff-ii"],
      "one TI+LoRA task for three methods",
    );

    assert.equal(table.sweep?.rows.length, 2);
    assert.deepEqual(
      table.sweep?.rows.map((r) => [r.label, r.strength, r.replaceProbability]),
      [
        ["da-fusion-s50-p50", 0.5, 0.5],
        ["da-fusion-s90-p50", 0.9, 0.5],
      ],
    );
    assert.ok(table.sweep?.rows.every((r) => r.gain !== null && Number.isFinite(r.gain.mean)));

    const cell = await readCell("pair-1shot-seed0");
    assert.deepEqual(Object.keys(cell.methods), methods);
    assert.equal(cell.jobs.length, 1, "one job for the whole cell");
    assert.equal(new Set(Object.values(cell.methods).map((m) => m.jobId)).size, 1);
    assert.deepEqual(cell.dataset.classes, ["sneaker", "bag"]);
    assert.equal(cell.dataset.trainCount, 2);
    assert.equal(cell.dataset.testCount, 8);

    const doc = await readFile(join(dir, "docs", "benchmark.md"), "utf8");
    for (const method of methods) assert.match(doc, new RegExp(`^\\| ${method}( \\(baseline\\))? \\|`, "m"));
    assert.match(doc, /### Sweep: da-fusion strength × replacement probability/);
    assert.match(doc, /`generation\.inversionSteps` \| diff-ii \| 200 \| 2 \| wiring \|/);
    const figures = (await readdir(join(dir, "docs", "benchmark"))).sort();
    assert.deepEqual(figures, ["cost-1shot.svg", "pair-1shot.svg", "sweep-da-fusion-pair-1shot.svg"]);
    for (const figure of figures) {
      const svg = await readFile(join(dir, "docs", "benchmark", figure), "utf8");
      assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"[^>]*>.*<\/svg>\n$/s, figure);
    }
  });

  test("a second run skips every finished cell and starts nothing", async () => {
    const before = await Promise.all(
      ["pair-1shot-seed0", "sweep-da-fusion-pair-1shot-seed0"].map(async (id) => ({
        text: await readFile(cellFile(id), "utf8"),
        mtime: (await stat(cellFile(id))).mtimeMs,
      })),
    );
    const { code, out, err } = await grid();
    assert.equal(code, 0, `${out}\n${err}`);
    assert.match(out, /2 cells selected, 2 finished, 0 to run/);
    assert.equal(out.match(/finished: skipped/g)?.length, 2);
    assert.doesNotMatch(out + err, /embedded stack up|starting finetune/, "nothing to run: no stack");
    const afterRun = await Promise.all(
      ["pair-1shot-seed0", "sweep-da-fusion-pair-1shot-seed0"].map(async (id) => ({
        text: await readFile(cellFile(id), "utf8"),
        mtime: (await stat(cellFile(id))).mtimeMs,
      })),
    );
    assert.deepEqual(afterRun, before, "finished cells are not rewritten");
  });

  test("an interrupted run resumes: the job the gateway still holds is followed, a lost one is resubmitted", async () => {
    const main = await readCell("pair-1shot-seed0");
    const sweep = await readCell("sweep-da-fusion-pair-1shot-seed0");
    // As if the run had stopped after submitting both jobs and before storing their outcomes.
    const marker = async (record: CellRecord, jobId: string) =>
      writeFile(
        join(dir, "data", "pending", `${record.id}.json`),
        JSON.stringify({
          cell: record.id,
          jobId,
          gateway: `embedded:${join(dir, "data")}`,
          fingerprints: Object.values(record.methods).map((m) => m.fingerprint),
          submittedAt: new Date().toISOString(),
        }),
      );
    await marker(main, main.jobs[0].id);
    await marker(sweep, randomUUID());
    await unlink(cellFile(main.id));
    await unlink(cellFile(sweep.id));

    const { code, out, err } = await grid();
    assert.equal(code, 0, `${out}\n${err}`);
    assert.match(out, /2 cells selected, 0 finished, 2 to run/);
    assert.match(
      out,
      new RegExp(`pair-1shot-seed0: following the earlier job ${main.jobs[0].id} \\(succeeded\\)`),
    );
    assert.match(
      out,
      /sweep-da-fusion-pair-1shot-seed0: the earlier job [0-9a-f-]+ is gone; submitting anew/,
    );
    assert.equal(out.match(/ submitted — /g)?.length, 1, "only the lost job is submitted again");

    const followed = await readCell(main.id);
    assert.equal(followed.jobs[0].id, main.jobs[0].id);
    assert.deepEqual(followed.methods, main.methods, "the same job gives the same stored outcome");
    const resubmitted = await readCell(sweep.id);
    assert.notEqual(resubmitted.jobs[0].id, sweep.jobs[0].id);
    assert.ok(
      !existsSync(join(dir, "data", "pending", `${main.id}.json`)),
      "markers are cleared once stored",
    );
    assert.ok(!existsSync(join(dir, "data", "pending", `${sweep.id}.json`)));
  });
});
