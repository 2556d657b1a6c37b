/**
 * From scratch vs the pretrained backbone (shared/classifier/backbones.ts) on the benchmark's few-shot
 * tasks, at equal optimizer steps, with the grid's classifier recipe (bench/grid/grid.json: resnet8, the
 * service's SGD defaults, batch 4, 50 epochs, label smoothing 0.1, no augmentation):
 *
 *   nice node --import tsx bench/backbone.ts --phase select   # lrScale on a validation split (1 shot per
 *                                                             # class held out of the 5-shot train images)
 *   nice node --import tsx bench/backbone.ts --phase test     # scratch vs backbone on the test split
 *   nice node --import tsx bench/backbone.ts --phase report   # bench/results/backbone.json
 *
 * Every run is stored in .cache/bench-backbone/<run>.json and skipped when there, so phases resume.
 * `--only scratch` runs the test phase's from-scratch runs alone (they need no backbone); `--scale s` the
 * backbone's at another lrScale than BACKBONE_RECIPE's (reported beside it).
 */
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { ARCHITECTURES, stemFor } from "../shared/classifier/architectures.js";
import { BACKBONE_RECIPE, backboneWeights, loadBackbone } from "../shared/classifier/backbone.js";
import { evaluateClassifier, trainClassifier } from "../shared/classifier/index.js";
import { type ImageSet, loadBuiltinDataset, makeFewShotTask, subset } from "../shared/data/index.js";
import { resnetConfig } from "../shared/ml/models/resnet.js";
import { meanStd, pairedBootstrap } from "../shared/stats/index.js";
import { round } from "./results.js";

const { values: args } = parseArgs({
  options: {
    phase: { type: "string", default: "test" },
    only: { type: "string" },
    seeds: { type: "string", default: "0,1,2" },
    scales: { type: "string", default: "0.1,1" },
    scale: { type: "string" },
  },
});
const BACKBONE = "tinted-digits-resnet8";
const SHOTS = 5;
const TEST_PER_CLASS = 200;
const CACHE = join(process.cwd(), ".cache", "bench-backbone");
const OUT = join(process.cwd(), "bench", "results", "backbone.json");
const TASKS = {
  ood: {
    dataset: "textures",
    classes: ["stripes", "checkerboard", "rings", "dots", "spokes", "zigzag", "blobs", "spiral"],
  },
  novel: { dataset: "fashion-mnist", classes: ["sandal", "bag", "sneaker", "ankle boot"] },
} as const;
type TaskId = keyof typeof TASKS;
/** The grid's classifier: the service's defaults (SGD, lr 0.05, momentum 0.9, wd 5e-4, cosine) and its budget. */
const RECIPE = {
  optimizer: "sgd",
  lr: 0.05,
  weightDecay: 5e-4,
  labelSmoothing: 0.1,
  batchSize: 4,
  epochs: 50,
} as const;
const seeds = args.seeds.split(",").map(Number);
const log = (msg: string) => console.log(`${new Date().toISOString().slice(11, 19)} ${msg}`);

interface Run {
  task: TaskId;
  seed: number;
  backbone: string;
  lrScale: number | null;
  split: "validation" | "test";
  steps: number;
  top1: number;
  correct: number[];
  finalLoss: number;
  seconds: number;
}

async function task(id: TaskId, seed: number) {
  const t = TASKS[id];
  const source = await loadBuiltinDataset(t.dataset);
  return makeFewShotTask(source, { shots: SHOTS, seed, classes: t.classes, testPerClass: TEST_PER_CLASS });
}

/** The last shot of each class held out: 4 train and 1 validation image per class. */
function carve(train: ImageSet): { fit: ImageSet; validation: ImageSet } {
  const fit: number[] = [];
  const validation: number[] = [];
  const seen = new Map<number, number>();
  train.labels.forEach((label, i) => {
    const n = (seen.get(label) ?? 0) + 1;
    seen.set(label, n);
    (n === SHOTS ? validation : fit).push(i);
  });
  return { fit: subset(train, fit), validation: subset(train, validation) };
}

async function run(
  id: TaskId,
  seed: number,
  split: "validation" | "test",
  backbone: string,
  lrScale: number | null,
): Promise<Run> {
  const name = `${id}-seed${seed}-${split}-${backbone}${lrScale === null ? "" : `-x${lrScale}`}`;
  const path = join(CACHE, `${name}.json`);
  if (existsSync(path)) return JSON.parse(await readFile(path, "utf8")) as Run;
  const few = await task(id, seed);
  const { fit, validation } = carve(few.trainSet);
  const trainSet = split === "validation" ? fit : few.trainSet;
  const evalSet = split === "validation" ? validation : few.testSet;
  const model = resnetConfig({
    inChannels: trainSet.channels,
    numClasses: trainSet.classNames.length,
    imageSize: trainSet.height,
    stem: stemFor(trainSet.height),
    ...ARCHITECTURES.resnet8,
  });
  const init =
    backbone === "scratch"
      ? undefined
      : { parameters: backboneWeights(await loadBackbone(backbone), model), lrScale: lrScale ?? 1 };
  const losses: number[] = [];
  const result = await trainClassifier({
    trainSet,
    model,
    init,
    ...RECIPE,
    seed,
    threads: 1,
    onProgress: (e) => losses.push(e.loss),
  });
  const ev = await evaluateClassifier(result.parameters, result.config, evalSet, {
    batchSize: 200,
    threads: 1,
  });
  const correct = Array.from(ev.predictions, (p, i) => (p === evalSet.labels[i] ? 1 : 0));
  const tail = losses.slice(-10);
  const out: Run = {
    task: id,
    seed,
    backbone,
    lrScale,
    split,
    steps: result.steps,
    top1: round(ev.top1),
    correct,
    finalLoss: round(tail.reduce((a, b) => a + b, 0) / tail.length),
    seconds: Math.round(result.seconds),
  };
  await mkdir(CACHE, { recursive: true });
  await writeFile(path, JSON.stringify(out));
  log(`${name}: top-1 ${(100 * out.top1).toFixed(1)} % after ${out.steps} steps (${out.seconds} s)`);
  return out;
}

const scales = args.scales.split(",").map(Number);
const started = Date.now();
if (args.phase === "select") {
  for (const seed of seeds)
    for (const id of Object.keys(TASKS) as TaskId[]) {
      await run(id, seed, "validation", "scratch", null);
      for (const s of scales) await run(id, seed, "validation", BACKBONE, s);
    }
} else if (args.phase === "test") {
  for (const seed of seeds)
    for (const id of Object.keys(TASKS) as TaskId[]) {
      await run(id, seed, "test", "scratch", null);
      if (args.only !== "scratch")
        await run(
          id,
          seed,
          "test",
          BACKBONE,
          args.scale === undefined ? BACKBONE_RECIPE.lrScale : Number(args.scale),
        );
    }
} else if (args.phase === "report") {
  const cached = async (
    id: TaskId,
    seed: number,
    split: "validation" | "test",
    b: string,
    s: number | null,
  ) => {
    const name = `${id}-seed${seed}-${split}-${b}${s === null ? "" : `-x${s}`}`;
    const path = join(CACHE, `${name}.json`);
    return existsSync(path) ? (JSON.parse(await readFile(path, "utf8")) as Run) : undefined;
  };
  const report: Record<string, unknown> = {
    what: "5-shot top-1, from scratch vs the pretrained backbone, equal optimizer steps (bench/backbone.ts)",
    backbone: BACKBONE,
    recipe: RECIPE,
    lrScale: BACKBONE_RECIPE.lrScale,
    tasks: {},
  };
  for (const id of Object.keys(TASKS) as TaskId[]) {
    const validation: Record<string, unknown> = {};
    for (const [label, b, s] of [
      ["scratch", "scratch", null],
      ...scales.map((x) => [`x${x}`, BACKBONE, x]),
    ] as [string, string, number | null][]) {
      const runs = (await Promise.all(seeds.map((seed) => cached(id, seed, "validation", b, s)))).filter(
        (r): r is Run => r !== undefined,
      );
      validation[label] = { ...meanStd(runs.map((r) => r.top1)), perSeed: runs.map((r) => r.top1) };
    }
    const scratch = (
      await Promise.all(seeds.map((seed) => cached(id, seed, "test", "scratch", null)))
    ).filter((r): r is Run => r !== undefined);
    const tuned = (
      await Promise.all(seeds.map((seed) => cached(id, seed, "test", BACKBONE, BACKBONE_RECIPE.lrScale)))
    ).filter((r): r is Run => r !== undefined);
    const paired =
      scratch.length === tuned.length && tuned.length > 0
        ? pairedBootstrap(
            tuned.map((r) => r.correct),
            scratch.map((r) => r.correct),
          )
        : null;
    const otherScales: Record<string, unknown> = {};
    for (const x of scales.filter((v) => v !== BACKBONE_RECIPE.lrScale)) {
      const runs = (await Promise.all(seeds.map((seed) => cached(id, seed, "test", BACKBONE, x)))).filter(
        (r): r is Run => r !== undefined,
      );
      if (runs.length > 0)
        otherScales[`x${x}`] = { ...meanStd(runs.map((r) => r.top1)), perSeed: runs.map((r) => r.top1) };
    }
    (report.tasks as Record<string, unknown>)[id] = {
      classes: TASKS[id].classes,
      steps: scratch.map((r) => r.steps),
      validation,
      test: {
        images: scratch[0]?.correct.length ?? null,
        scratch: { ...meanStd(scratch.map((r) => r.top1)), perSeed: scratch.map((r) => r.top1) },
        backbone: { ...meanStd(tuned.map((r) => r.top1)), perSeed: tuned.map((r) => r.top1) },
        gain: paired,
        otherScales,
        trainSeconds: {
          scratch: scratch.map((r) => r.seconds),
          backbone: tuned.map((r) => r.seconds),
        },
      },
    };
  }
  await writeFile(OUT, `${JSON.stringify(report, null, 2)}\n`);
  log(`wrote ${OUT}`);
}
log(`${args.phase} done in ${Math.round((Date.now() - started) / 1000)} s`);
