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
 * Phases as arguments (default: all); KIT_DIR / KIT_EVAL_DIR point at the kit; checkpoints in
 * .cache/bench-finetune make the long phases resumable (a finished phase's figures are kept in the results
 * file and skipped on re-runs unless FRESH=1).
 */
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

/** Share of generated images the kit's evaluation classifier assigns to their prompt's class. */
async function recognitionRate(
  model: DiffusionModel,
  prompts: readonly string[],
  classIndex: readonly number[],
  classifier: Awaited<ReturnType<typeof createSession>>,
  classes: number,
): Promise<number[]> {
  const rates: number[] = [];
  for (let c = 0; c < prompts.length; c++) {
    const requests = Array.from({ length: PER_CLASS }, (_, i) => ({
      prompt: prompts[c],
      seed: 1000 + c,
      index: i,
    }));
    const images = await textToImage(model, requests, {});
    const size = 3 * 32 * 32;
    const pixels = f32([images.length, 3, 32, 32]);
    images.forEach((g, i) => {
      (pixels.data as Float32Array).set(g.image.data.subarray(0, size), i * size);
    });
    const logits = (await runSession(classifier, { pixel_values: pixels })).logits.data as Float32Array;
    let hits = 0;
    for (let i = 0; i < images.length; i++) {
      let best = 0;
      for (let k = 1; k < classes; k++) if (logits[i * classes + k] > logits[i * classes + best]) best = k;
      if (best === classIndex[c]) hits++;
    }
    rates.push(hits / images.length);
  }
  return rates;
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
    classifier: classifierPath,
  };
  try {
    const plain = HELD_OUT.map((c) => `a photo of a ${c}`);
    const untuned = await recognitionRate(model, plain, classIndex, classifier, info.classes.length);
    out.untuned = { prompts: plain, per_class: untuned, mean: round(mean(untuned), 4) };
    log(`  untuned ${untuned}`);
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
          return await recognitionRate(adapted, prompts, classIndex, classifier, info.classes.length);
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
        ti: { per_class: tiRates, mean: round(mean(tiRates), 4), train_seconds: round(ti.seconds, 1) },
        ti_lora: {
          per_class: loraRates,
          mean: round(mean(loraRates), 4),
          train_seconds: round(tiLora.seconds, 1),
        },
      };
      log(`  ${shots}-shot TI ${tiRates}, TI+LoRA ${loraRates}`);
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
  const results = process.env.FRESH ? {} : await readResults();
  results.cpu = cpus()[0]?.model ?? "unknown";
  results.threads = threads;
  results.kit = KIT_DIR;
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
