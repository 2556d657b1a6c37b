/**
 * Fine-tuning benchmark on the bundled kit (`npm run bench:finetune`), written to bench/results/finetune.json:
 * - timing: ms per training step at batch 16 of TI, TI+LoRA (and, for reference, text-encoder LoRA and full
 *   UNet), after warm-up, median and minimum over the measured steps;
 * - full: the wall time of a full default TI+LoRA run (TI 500 steps + LoRA 250 steps, the kit-scaled paper
 *   recipe) on the held-out classes, with the held-out-batch loss before and after each stage;
 * - recognition: untuned vs TI vs TI+LoRA on the kit's held-out classes (fashion "sandal", "bag") at 5 and
 *   10 shots: images generated from "a photo of a <class>" and classified by the kit's evaluation
 *   classifier (models/kit-eval/classifier.onnx, trained on real images of all 20 kit classes); the rate is
 *   the share recognised as the intended class.
 * That adapters written by diffda load back and generate as a merge by hand does is a test:
 * test/finetune-adapters.test.ts.
 * Phases as arguments (default: all); KIT_DIR / KIT_EVAL_DIR point at the kit; checkpoints in
 * .cache/bench-finetune make the long phases resumable (a finished phase's figures are kept in the results
 * file and skipped on re-runs unless FRESH=1, which redoes the named phases and keeps the others' figures).
 */
import { createHash } from "node:crypto";
import { access, mkdir, readFile, writeFile } from "node:fs/promises";
import { availableParallelism, cpus } from "node:os";
import { join } from "node:path";
import {
  type ImageSet,
  loadBuiltinDataset,
  makeFewShotTask,
  padImageSet,
  toRgb,
} from "../shared/data/index.js";
import { type AdapterSet, withAdapters } from "../shared/diffusion/adapters/index.js";
import { type DiffusionModel, loadDiffusionModel } from "../shared/diffusion/models/index.js";
import { textToImage } from "../shared/diffusion/pipelines/index.js";
import {
  type FineTuneOptions,
  type FineTuneResult,
  fineTune,
  KIT_TEMPLATES,
  METHOD_DEFAULTS,
} from "../shared/finetune/index.js";
import { f32 } from "../shared/ml/onnx/index.js";
import { createSession, runSession } from "../shared/ml/runtime/index.js";

const KIT_DIR = process.env.KIT_DIR ?? "models/diffda-kit-v1";
const EVAL_DIR = process.env.KIT_EVAL_DIR ?? "models/kit-eval";
const CACHE = process.env.BENCH_CACHE ?? ".cache/bench-finetune";
const RESULTS = "bench/results/finetune.json";
const threads = Number(process.env.THREADS ?? Math.min(2, availableParallelism()));
const HELD_OUT = ["sandal", "bag"] as const;
const TIMED_STEPS = Number(process.env.TIMED_STEPS ?? 25);
const WARMUP_STEPS = 5;
const PER_CLASS = Number(process.env.GENERATED_PER_CLASS ?? 32);

type Results = Record<string, unknown>;

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

async function readResults(): Promise<Results> {
  try {
    return JSON.parse(await readFile(RESULTS, "utf8")) as Results;
  } catch {
    return {};
  }
}

async function writeResults(results: Results): Promise<void> {
  await mkdir("bench/results", { recursive: true });
  await writeFile(RESULTS, `${JSON.stringify(results, null, 2)}\n`);
}

function log(message: string): void {
  console.log(`[${new Date().toISOString().slice(11, 19)}] ${message}`);
}

const round = (v: number, digits = 2) => Number(v.toFixed(digits));

/** Few-shot training images of the held-out classes: fashion-mnist train split, padded to 32 px, white on black (a kit colour). */
async function heldOutImages(shots: number, seed = 0): Promise<ImageSet> {
  const task = makeFewShotTask(await loadBuiltinDataset("fashion-mnist"), {
    shots,
    seed,
    classes: [...HELD_OUT],
    testPerClass: 1,
  });
  return toRgb(padImageSet(task.trainSet, 32, 32));
}

const base = (images: ImageSet, over: Partial<FineTuneOptions>): FineTuneOptions => ({
  modelDir: KIT_DIR,
  method: "textual-inversion",
  images,
  templates: KIT_TEMPLATES,
  tokens: HELD_OUT.map((c) => `<${c}>`),
  threads,
  worker: true,
  ...over,
});

/** Runs a fine-tune and measures each step's wall time from the progress events. */
async function timed(o: FineTuneOptions): Promise<{ result: FineTuneResult; stepMs: number[] }> {
  const stamps: number[] = [];
  const started = performance.now();
  const result = await fineTune({
    ...o,
    onProgress: (p) => {
      stamps.push(performance.now());
      if (p.step % 50 === 0)
        log(
          `  ${p.stage} ${p.step}/${p.totalSteps} loss ${p.loss.toFixed(4)} eta ${p.etaSeconds.toFixed(0)} s`,
        );
    },
  });
  const stepMs = stamps.map((t, i) => t - (i === 0 ? started : stamps[i - 1])).slice(1);
  return { result, stepMs };
}

function summary(stepMs: number[]): { median: number; min: number } {
  const sorted = stepMs.slice(WARMUP_STEPS).sort((a, b) => a - b);
  return { median: round(sorted[Math.floor(sorted.length / 2)]), min: round(sorted[0]) };
}

async function timing(results: Results): Promise<void> {
  const images = await heldOutImages(10);
  const settings = { steps: TIMED_STEPS + WARMUP_STEPS, batchSize: 16 };
  const out: Results = { batch: 16, steps_timed: TIMED_STEPS, warmup_steps: WARMUP_STEPS };
  log("timing: textual inversion");
  const ti = await timed(base(images, { method: "textual-inversion", settings }));
  const tiMs = summary(ti.stepMs);
  out.ti_ms_per_step = tiMs.median;
  out.ti_ms_per_step_min = tiMs.min;
  log(`  TI ${tiMs.median} ms/step (min ${tiMs.min})`);
  log("timing: TI+LoRA (rank 8)");
  const lora = await timed(base(images, { method: "ti-lora", concepts: ti.result.concepts, settings }));
  const loraMs = summary(lora.stepMs);
  out.ti_lora_ms_per_step = loraMs.median;
  out.ti_lora_ms_per_step_min = loraMs.min;
  log(`  TI+LoRA ${loraMs.median} ms/step (min ${loraMs.min})`);
  for (const method of ["text-encoder-lora", "full-unet"] as const) {
    log(`timing: ${method}`);
    const r = await timed(base(images, { method, classWords: [...HELD_OUT], settings }));
    const s = summary(r.stepMs);
    out[`${method.replaceAll("-", "_")}_ms_per_step`] = s.median;
    out[`${method.replaceAll("-", "_")}_ms_per_step_min`] = s.min;
    log(`  ${method} ${s.median} ms/step (min ${s.min})`);
  }
  results.timing = out;
}

async function full(results: Results): Promise<void> {
  const images = await heldOutImages(10);
  log(
    `full default TI+LoRA run: TI ${METHOD_DEFAULTS["textual-inversion"].steps} + LoRA ${METHOD_DEFAULTS.lora.steps} steps, 10 shots`,
  );
  const { result } = await timed(
    base(images, {
      method: "ti-lora",
      checkpointDir: join(CACHE, "full"),
      checkpointEvery: 50,
      evalBatches: 8,
      resumeFrom: await latestCheckpoint(join(CACHE, "full")),
    }),
  );
  results.full_default_run = {
    shots: 10,
    classes: [...HELD_OUT],
    wall_seconds: round(result.seconds, 1),
    stages: result.stages.map((s) => ({
      stage: s.stage,
      steps: s.totalSteps,
      resumed_from: s.startStep,
      ms_per_step: round(s.msPerStep),
      seconds: round(s.seconds, 1),
      held_out_loss_before: s.evalLossBefore === undefined ? null : round(s.evalLossBefore, 5),
      held_out_loss_after: s.evalLossAfter === undefined ? null : round(s.evalLossAfter, 5),
      train_loss_first_20: round(mean(s.losses.slice(0, 20)), 5),
      train_loss_last_20: round(mean(s.losses.slice(-20)), 5),
    })),
  };
  log(`  ${round(result.seconds, 1)} s`);
}

function mean(values: number[]): number {
  return values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);
}

async function latestCheckpoint(dir: string): Promise<string | undefined> {
  const { readdir } = await import("node:fs/promises");
  if (!(await exists(dir))) return undefined;
  const files = (await readdir(dir)).filter((f) => /-\d{6}\.safetensors$/.test(f)).sort();
  const lora = files.filter((f) => f.startsWith("lora-"));
  const pick = lora.at(-1) ?? files.filter((f) => f.startsWith("textual-inversion-")).at(-1);
  return pick ? join(dir, pick) : undefined;
}

/** The class the classifier picks for each of `count` images (NCHW RGB 32×32 in [0, 1]). */
async function classify(
  classifier: Awaited<ReturnType<typeof createSession>>,
  pixels: Float32Array,
  count: number,
  classes: number,
): Promise<number[]> {
  const logits = (await runSession(classifier, { pixel_values: f32([count, 3, 32, 32], pixels) })).logits
    .data as Float32Array;
  return Array.from({ length: count }, (_, i) => {
    let best = 0;
    for (let k = 1; k < classes; k++) if (logits[i * classes + k] > logits[i * classes + best]) best = k;
    return best;
  });
}

interface Recognition {
  /** Share recognised as the intended class, per class. */
  rates: number[];
  /** What the classifier saw instead: class name → count, per class. */
  predicted: Record<string, number>[];
}

function tally(picks: number[], names: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of picks) out[names[p]] = (out[names[p]] ?? 0) + 1;
  return out;
}

/** Share of generated images the kit's evaluation classifier assigns to their prompt's class. */
async function recognitionRate(
  model: DiffusionModel,
  prompts: readonly string[],
  classIndex: readonly number[],
  classifier: Awaited<ReturnType<typeof createSession>>,
  names: readonly string[],
): Promise<Recognition> {
  const out: Recognition = { rates: [], predicted: [] };
  for (let c = 0; c < prompts.length; c++) {
    const requests = Array.from({ length: PER_CLASS }, (_, i) => ({
      prompt: prompts[c],
      seed: 1000 + c,
      index: i,
    }));
    const images = await textToImage(model, requests, {});
    const size = 3 * 32 * 32;
    const pixels = new Float32Array(images.length * size);
    images.forEach((g, i) => {
      pixels.set(g.image.data.subarray(0, size), i * size);
    });
    const picks = await classify(classifier, pixels, images.length, names.length);
    out.rates.push(picks.filter((p) => p === classIndex[c]).length / images.length);
    out.predicted.push(tally(picks, names));
  }
  return out;
}

async function recognition(results: Results): Promise<void> {
  const classifierPath = join(EVAL_DIR, "classifier.onnx");
  if (!(await exists(classifierPath))) {
    results.recognition = { skipped: `no evaluation classifier at ${classifierPath}` };
    log(`recognition skipped: ${classifierPath} missing`);
    return;
  }
  const info = JSON.parse(await readFile(join(EVAL_DIR, "classifier.json"), "utf8")) as { classes: string[] };
  const classIndex = HELD_OUT.map((c) => info.classes.indexOf(c));
  if (classIndex.some((i) => i < 0))
    throw new Error(`the evaluation classifier lacks ${HELD_OUT.join(", ")}`);
  const classifier = await createSession(await readFile(classifierPath), { threads });
  const model = await loadDiffusionModel(KIT_DIR);
  const out: Results = {
    classes: [...HELD_OUT],
    images_per_class: PER_CLASS,
    sampler: "DPM-Solver++ 25 steps, CFG 7.5",
    tokens: '<sandal>, <bag> initialised from "the"; kit templates; method defaults',
    classifier: classifierPath,
  };
  try {
    // Reference: real test images of the held-out classes, prepared like the training images.
    const real = makeFewShotTask(await loadBuiltinDataset("fashion-mnist"), {
      shots: 1,
      seed: 0,
      classes: [...HELD_OUT],
      testPerClass: 100,
    });
    const test = toRgb(padImageSet(real.testSet, 32, 32));
    const picks = await classify(classifier, test.images, test.labels.length, info.classes.length);
    out.real_test_images = HELD_OUT.map((_, c) => {
      const mine = picks.filter((_, i) => test.labels[i] === c);
      return round(mine.filter((p) => p === classIndex[c]).length / mine.length, 4);
    });
    const plain = HELD_OUT.map((c) => `a photo of a ${c}`);
    const untuned = await recognitionRate(model, plain, classIndex, classifier, info.classes);
    out.untuned = {
      prompts: plain,
      per_class: untuned.rates,
      mean: round(mean(untuned.rates), 4),
      predicted: untuned.predicted,
    };
    log(`  real ${out.real_test_images}, untuned ${untuned.rates}`);
    for (const shots of [5, 10]) {
      const images = await heldOutImages(shots);
      const dir = join(CACHE, `recognition-${shots}`);
      log(`recognition ${shots}-shot: TI`);
      const ti = await fineTune(
        base(images, { method: "textual-inversion", checkpointDir: join(dir, "ti") }),
      );
      log(`recognition ${shots}-shot: TI+LoRA`);
      const tiLora = await fineTune(
        base(images, { method: "ti-lora", concepts: ti.concepts, checkpointDir: join(dir, "lora") }),
      );
      const prompts = HELD_OUT.map((c) => `a photo of a <${c}>`);
      const rate = async (adapters: AdapterSet) => {
        const adapted = await withAdapters(model, adapters);
        try {
          return await recognitionRate(adapted, prompts, classIndex, classifier, info.classes);
        } finally {
          await adapted.release();
        }
      };
      const tiRates = await rate({ textualInversions: ti.concepts });
      const loraRates = await rate({
        textualInversions: tiLora.concepts,
        loras: [{ layers: tiLora.lora ?? [] }],
      });
      out[`shots_${shots}`] = {
        ti: {
          per_class: tiRates.rates,
          mean: round(mean(tiRates.rates), 4),
          predicted: tiRates.predicted,
          train_seconds: round(ti.seconds, 1),
        },
        ti_lora: {
          per_class: loraRates.rates,
          mean: round(mean(loraRates.rates), 4),
          predicted: loraRates.predicted,
          train_seconds: round(tiLora.seconds, 1),
        },
      };
      log(`  ${shots}-shot TI ${tiRates.rates}, TI+LoRA ${loraRates.rates}`);
    }
  } finally {
    await model.release();
    await classifier.release();
  }
  results.recognition = out;
}

const PHASES: Record<string, (r: Results) => Promise<void>> = { timing, full, recognition };

async function main(): Promise<void> {
  if (
    !(await exists(join(KIT_DIR, "model_index.json"))) ||
    !(await exists(join(KIT_DIR, "unet", "model.onnx")))
  ) {
    console.error(`no kit at ${KIT_DIR} (set KIT_DIR); nothing measured`);
    process.exitCode = 1;
    return;
  }
  const wanted = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(PHASES);
  // FRESH=1 redoes the named phases; the file's other figures stay.
  const results = await readResults();
  results.cpu = cpus()[0]?.model ?? "unknown";
  results.threads = threads;
  results.kit = KIT_DIR;
  results.kit_unet_sha256 = createHash("sha256")
    .update(await readFile(join(KIT_DIR, "unet", "model.onnx")))
    .digest("hex")
    .slice(0, 16);
  for (const phase of wanted) {
    const run = PHASES[phase];
    if (!run) throw new Error(`unknown phase ${phase}; phases: ${Object.keys(PHASES).join(", ")}`);
    const done = results[phase === "full" ? "full_default_run" : phase] as Results | undefined;
    if (!process.env.FRESH && phase !== "timing" && done && !("skipped" in done)) {
      log(`${phase}: already in ${RESULTS} (FRESH=1 to redo)`);
      continue;
    }
    await run(results);
    await writeResults(results);
  }
  log(`wrote ${RESULTS}`);
}

await main();
