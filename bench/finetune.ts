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
 * - adapters: a short TI+LoRA run (5 shots of the held-out classes) whose adapters are written as the
 *   finetune service writes them (learned_embeds.safetensors, PEFT-keyed pytorch_lora_weights.safetensors,
 *   and the kohya-keyed export), loaded back through shared/diffusion/adapters (withAdapters), and compared
 *   on a fixed batch (8 images, DPM-Solver++ 25 steps, CFG 7.5) with a model merged by hand (W + alpha/rank ·
 *   B·A written into a copy of the UNet's ONNX initializers, TI rows into the token table, the tokens into
 *   tokenizer/added_tokens.json), with the kohya file loaded, and with the untuned and TI-only models.
 * Phases as arguments (default: all); KIT_DIR / KIT_EVAL_DIR point at the kit; checkpoints in
 * .cache/bench-finetune make the long phases resumable (a finished phase's figures are kept in the results
 * file and skipped on re-runs unless FRESH=1, which redoes the named phases and keeps the others' figures).
 */
import { createHash } from "node:crypto";
import { access, cp, mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { availableParallelism, cpus } from "node:os";
import { basename, join } from "node:path";
import { adaptersOf } from "../services/finetune/src/run.js";
import type { FinetunePlan } from "../services/finetune/src/spec.js";
import {
  type ImageSet,
  loadBuiltinDataset,
  makeFewShotTask,
  padImageSet,
  toRgb,
} from "../shared/data/index.js";
import {
  type AdapterSet,
  indexModuleWeights,
  type LoraComponent,
  type LoraLayer,
  loadLoraFile,
  loadTextualInversionFile,
  mergeLoraWeights,
  type TextualInversion,
  withAdapters,
} from "../shared/diffusion/adapters/index.js";
import { type DiffusionModel, loadDiffusionModel } from "../shared/diffusion/models/index.js";
import { encodePrompts, textToImage } from "../shared/diffusion/pipelines/index.js";
import {
  type FineTuneOptions,
  type FineTuneResult,
  fineTune,
  KIT_TEMPLATES,
  METHOD_DEFAULTS,
  OUTPUT_FILES,
  saveFineTuneResult,
} from "../shared/finetune/index.js";
import {
  DataType,
  decodeModel,
  encodeModel,
  f32,
  type ModelProto,
  type TensorProto,
} from "../shared/ml/onnx/index.js";
import { createSession, runSession } from "../shared/ml/runtime/index.js";
import { loadSafetensors } from "../shared/ml/safetensors/index.js";

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

// ---- adapters: written, loaded back, and compared with a merge by hand ----

const ADAPTER_SHOTS = 5;
const ADAPTER_TI_STEPS = Number(process.env.ADAPTER_TI_STEPS ?? 60);
const ADAPTER_LORA_STEPS = Number(process.env.ADAPTER_LORA_STEPS ?? 60);
/** Rank 8 as the defaults; alpha 16 ≠ rank, so the alpha / rank scale (2) is exercised, not just 1. */
const ADAPTER_RANK = 8;
const ADAPTER_ALPHA = 16;
const ADAPTER_IMAGES = 8;
/**
 * Bounds on max |Δ| of the decoded pixels (in [0, 1]): loaded vs hand-merged allows float32 rounding of
 * W + ΔW summed in another order, carried through 25 guided steps; the kohya file holds the same tensors as
 * the PEFT file, so it must give the same model to the bit; the adapters (and the LoRA on its own) must
 * move some pixel by at least min_change.
 */
const ADAPTER_TOLERANCES = Object.freeze({
  loaded_vs_hand_merged: 1e-4,
  loaded_vs_kohya: 1e-6,
  min_change: 1e-2,
});
const TOKEN_TABLE = "text_model.embeddings.token_embedding.weight";

/** The values of a float32 initializer stored inline (raw_data or float_data), copied. */
function handFloats(t: TensorProto): Float32Array {
  if (t.dataType !== DataType.FLOAT)
    throw new Error(`${t.name}: the hand merge handles float32 weights only (data type ${t.dataType})`);
  if (t.rawData && t.dataLocation !== 1) {
    // A copy (a decoded file's raw_data is a Buffer view, whose slice() is not one), aligned at 0.
    const copy = new Uint8Array(t.rawData);
    return new Float32Array(copy.buffer, 0, copy.byteLength / 4);
  }
  if (t.floatData) return Float32Array.from(t.floatData);
  throw new Error(`${t.name}: the hand merge reads inline weights only`);
}

function setHandFloats(t: TensorProto, values: Float32Array, dims: number[] = t.dims): void {
  t.dims = dims;
  t.rawData = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  t.floatData = undefined;
}

/**
 * How the graph multiplies by a Linear module's weight `<module>.weight`, read from its one consumer:
 * MatMul(x, W) keeps W as [in, out] (torch's weight transposed); Gemm(x, W, transB = 1) as [out, in].
 */
function handLayout(model: ModelProto, name: string): "in_out" | "out_in" {
  const users = model.graph.node.filter((n) => n.input.includes(name));
  const node = users[0];
  if (users.length !== 1 || node.input[1] !== name)
    throw new Error(`${name}: expected one MatMul / Gemm reading it as B, found ${users.length} users`);
  if (node.opType === "MatMul") return "in_out";
  const attr = (a: string) => node.attribute.find((x) => x.name === a);
  if (node.opType === "Gemm" && (attr("alpha")?.f ?? 1) === 1 && Number(attr("transA")?.i ?? 0) === 0)
    return Number(attr("transB")?.i ?? 0) === 1 ? "out_in" : "in_out";
  throw new Error(`${name}: read by ${node.opType}, which the hand merge does not handle`);
}

/**
 * W' = W + (alpha / rank) · B·A for every LoRA layer of `component`, written into the model's own named
 * initializers (`<module>.weight`), from the trained layers in torch layout (A = down [rank, in],
 * B = up [out, rank]); independent of shared/diffusion/adapters' merge. Returns the largest |ΔW| added.
 */
function mergeLoraByHand(
  model: ModelProto,
  layers: readonly LoraLayer[],
  component: LoraComponent,
  rank: number,
  alpha: number,
): number {
  const initializers = new Map(model.graph.initializer.map((t) => [t.name, t]));
  const scale = alpha / rank;
  let largest = 0;
  for (const layer of layers) {
    if (layer.component !== component) continue;
    const name = `${layer.name}.weight`;
    const tensor = initializers.get(name);
    if (!tensor) throw new Error(`the ${component} has no initializer ${name}`);
    const a = layer.down.data;
    const b = layer.up.data;
    if (!(a instanceof Float32Array && b instanceof Float32Array))
      throw new Error(`${layer.name}: trained LoRA weights are not float32`);
    const [r, fin] = layer.down.dims;
    const [fout, r2] = layer.up.dims;
    if (r !== rank || r2 !== rank || layer.down.dims.length !== 2)
      throw new Error(`${layer.name}: A [${layer.down.dims}], B [${layer.up.dims}], rank ${rank}`);
    const layout = handLayout(model, name);
    const expected = layout === "in_out" ? [fin, fout] : [fout, fin];
    if (tensor.dims.join() !== expected.join())
      throw new Error(`${name}: [${tensor.dims}] is not [${expected}] (${layout})`);
    const w = handFloats(tensor);
    for (let o = 0; o < fout; o++) {
      for (let i = 0; i < fin; i++) {
        let ba = 0;
        for (let k = 0; k < rank; k++) ba += b[o * rank + k] * a[k * fin + i];
        const delta = scale * ba;
        largest = Math.max(largest, Math.abs(delta));
        const at = layout === "in_out" ? i * fout + o : o * fin + i;
        w[at] = w[at] + delta;
      }
    }
    setHandFloats(tensor, w);
  }
  return largest;
}

/**
 * The concepts' vectors appended by hand to the token-embedding table (the named Gather table), in order;
 * returns each token's new id (the row it got), for tokenizer/added_tokens.json.
 */
function addTokenRowsByHand(
  model: ModelProto,
  concepts: readonly TextualInversion[],
  vocabSize: number,
): Record<string, number> {
  const table = model.graph.initializer.find((t) => t.name === TOKEN_TABLE);
  if (!table) throw new Error(`the text encoder has no ${TOKEN_TABLE}`);
  if (!model.graph.node.some((n) => n.opType === "Gather" && n.input[0] === TOKEN_TABLE))
    throw new Error(`${TOKEN_TABLE} is not read by a Gather`);
  const [rows, dim] = table.dims;
  if (rows !== vocabSize) throw new Error(`${TOKEN_TABLE} has ${rows} rows, vocab.json ${vocabSize} ids`);
  const grown = new Float32Array((rows + concepts.length) * dim);
  grown.set(handFloats(table));
  const ids: Record<string, number> = {};
  concepts.forEach((c, k) => {
    if (c.count !== 1 || c.dim !== dim) throw new Error(`${c.token}: ${c.count}×${c.dim}, expected 1×${dim}`);
    grown.set(c.vectors, (rows + k) * dim);
    ids[c.token] = rows + k;
  });
  setHandFloats(table, grown, [rows + concepts.length, dim]);
  return ids;
}

/**
 * A copy of the kit with the LoRA merged by hand into unet/ (and text_encoder/, for text-encoder layers), the
 * TI rows in the text encoder's token table and the tokens in tokenizer/added_tokens.json (transformers'
 * file of added tokens, which the tokenizer loader reads).
 */
async function handMergedKit(
  dir: string,
  layers: readonly LoraLayer[],
  concepts: readonly TextualInversion[],
): Promise<{ tokenIds: Record<string, number>; largestDelta: number }> {
  await rm(dir, { recursive: true, force: true });
  await cp(KIT_DIR, dir, { recursive: true });
  const unetPath = join(dir, "unet", "model.onnx");
  const unet = decodeModel(await readFile(unetPath));
  let largestDelta = mergeLoraByHand(unet, layers, "unet", ADAPTER_RANK, ADAPTER_ALPHA);
  await writeFile(unetPath, encodeModel(unet));
  const encoderPath = join(dir, "text_encoder", "model.onnx");
  const encoder = decodeModel(await readFile(encoderPath));
  largestDelta = Math.max(
    largestDelta,
    mergeLoraByHand(encoder, layers, "text_encoder", ADAPTER_RANK, ADAPTER_ALPHA),
  );
  const vocab = JSON.parse(await readFile(join(dir, "tokenizer", "vocab.json"), "utf8")) as Record<
    string,
    number
  >;
  const vocabSize = Math.max(...Object.values(vocab)) + 1;
  const tokenIds = addTokenRowsByHand(encoder, concepts, vocabSize);
  await writeFile(encoderPath, encodeModel(encoder));
  await writeFile(join(dir, "tokenizer", "added_tokens.json"), `${JSON.stringify(tokenIds)}\n`);
  return { tokenIds, largestDelta };
}

/** The decoded pixels of the fixed batch, all images one after another. */
async function fixedBatch(model: DiffusionModel, prompts: readonly string[]): Promise<Float32Array> {
  const requests = Array.from({ length: ADAPTER_IMAGES }, (_, i) => ({
    prompt: prompts[i % prompts.length],
    seed: 2024 + i,
    index: 0,
  }));
  const images = await textToImage(model, requests, { steps: 25, guidanceScale: 7.5 });
  const size = images[0].image.data.length;
  const out = new Float32Array(images.length * size);
  images.forEach((g, i) => {
    out.set(g.image.data, i * size);
  });
  return out;
}

function absDiff(a: ArrayLike<number>, b: ArrayLike<number>): { max: number; mean: number } {
  if (a.length !== b.length) throw new RangeError(`lengths differ: ${a.length} vs ${b.length}`);
  let max = 0;
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    max = Math.max(max, d);
    sum += d;
  }
  return { max, mean: sum / Math.max(1, a.length) };
}

const sci = (v: number) => Number(v.toPrecision(3));

/** The loader's merged UNet initializers (its own merge code) against the hand-merged ones, element by element. */
async function compareMergedWeights(
  loraFile: Awaited<ReturnType<typeof loadLoraFile>>,
  handDir: string,
): Promise<Results> {
  const path = join(KIT_DIR, "unet", "model.onnx");
  const proto = decodeModel(await readFile(path));
  const merged = await mergeLoraWeights(
    "unet",
    [loraFile],
    indexModuleWeights(proto),
    new Map(proto.graph.initializer.map((t) => [t.name, t])),
    path,
  );
  const hand = new Map(
    decodeModel(await readFile(join(handDir, "unet", "model.onnx"))).graph.initializer.map((t) => [
      t.name,
      t,
    ]),
  );
  let max = 0;
  let differing = 0;
  let elements = 0;
  for (const [name, tensor] of merged) {
    const h = hand.get(name);
    if (!h) throw new Error(`the hand-merged UNet lacks ${name}`);
    const a = handFloats(tensor);
    const b = handFloats(h);
    elements += a.length;
    for (let i = 0; i < a.length; i++) {
      if (a[i] !== b[i]) differing++;
      max = Math.max(max, Math.abs(a[i] - b[i]));
    }
  }
  return { initializers: merged.size, elements, elements_differing: differing, max_abs_diff: sci(max) };
}

async function adapters(results: Results): Promise<void> {
  const images = await heldOutImages(ADAPTER_SHOTS);
  const dir = join(CACHE, "adapters");
  log(
    `adapters: TI ${ADAPTER_TI_STEPS} + LoRA ${ADAPTER_LORA_STEPS} steps (rank ${ADAPTER_RANK}, alpha ${ADAPTER_ALPHA}), ${ADAPTER_SHOTS} shots`,
  );
  const result = await fineTune(
    base(images, {
      method: "ti-lora",
      tiSettings: { steps: ADAPTER_TI_STEPS },
      settings: { steps: ADAPTER_LORA_STEPS },
      rank: ADAPTER_RANK,
      alpha: ADAPTER_ALPHA,
    }),
  );
  const concepts = result.concepts ?? [];
  const layers = result.lora ?? [];
  if (concepts.length !== HELD_OUT.length || layers.length === 0)
    throw new Error(`the run gave ${concepts.length} concepts and ${layers.length} LoRA layers`);

  // The files, as shared/finetune's writer and the finetune service's artifacts write them.
  const filesDir = join(dir, "files");
  await rm(filesDir, { recursive: true, force: true });
  const written = await saveFineTuneResult(result, filesDir, { loraFormats: ["peft", "kohya"] });
  const artifacts = adaptersOf(result, { rank: ADAPTER_RANK, alpha: ADAPTER_ALPHA } as FinetunePlan);
  const sameAsService: Record<string, boolean> = {};
  for (const a of artifacts) {
    const file = a.file;
    if (!file?.name || !file.content) continue;
    const onDisk = createHash("sha256")
      .update(await readFile(join(filesDir, file.name)))
      .digest("hex");
    sameAsService[file.name] = onDisk === file.sha256;
  }
  const files = [];
  for (const path of written) {
    const { tensors, metadata } = await loadSafetensors(path);
    const keys = [...tensors.keys()];
    files.push({
      name: basename(path),
      bytes: (await stat(path)).size,
      keys: keys.length,
      sample_keys: keys.slice(0, 3),
      metadata,
    });
  }
  log(`  wrote ${files.map((f) => `${f.name} (${f.bytes} B, ${f.keys} keys)`).join(", ")}`);

  // (a) the PEFT + TI files through the loader, (b) merged by hand, (c) the kohya file through the loader.
  const handDir = join(dir, "hand-merged-kit");
  const byHand = await handMergedKit(handDir, layers, concepts);
  const tiFile = await loadTextualInversionFile(join(filesDir, OUTPUT_FILES.textualInversion));
  // As the generation engine reads a job's PEFT file: the job's lora_alpha for layers without their own.
  const peft = await loadLoraFile(join(filesDir, OUTPUT_FILES.lora), { alpha: ADAPTER_ALPHA });
  const kohya = await loadLoraFile(join(filesDir, OUTPUT_FILES.loraKohya));
  const untuned = await loadDiffusionModel(KIT_DIR);
  const hand = await loadDiffusionModel(handDir);
  const opened: DiffusionModel[] = [];
  const adapt = async (set: AdapterSet) => {
    const m = await withAdapters(untuned, set);
    opened.push(m);
    return m;
  };
  const prompts = HELD_OUT.map((c) => `a photo of a <${c}>`);
  try {
    const loaded = await adapt({ loras: [peft], textualInversions: tiFile });
    const kohyaLoaded = await adapt({ loras: [kohya], textualInversions: tiFile });
    const tiOnly = await adapt({ textualInversions: tiFile });
    // The placeholders' ids may differ (the loader adds the file's tokens in its key order, the hand merge in
    // class order); what must agree is the tokens a prompt becomes and the rows they read (text states).
    const tokens = (m: DiffusionModel) => prompts.map((p) => m.tokenizer.tokenize(m.preparePrompt(p)));
    const placeholderIds = (m: DiffusionModel) =>
      Object.fromEntries(HELD_OUT.map((c) => [`<${c}>`, m.tokenizer.tokenToId(`<${c}>`)]));
    log("  generating the fixed batch with the loaded, hand-merged, kohya, TI-only and untuned models");
    const pixels = {
      loaded: await fixedBatch(loaded, prompts),
      hand: await fixedBatch(hand, prompts),
      kohya: await fixedBatch(kohyaLoaded, prompts),
      tiOnly: await fixedBatch(tiOnly, prompts),
      untuned: await fixedBatch(untuned, prompts),
    };
    const states = await Promise.all([loaded, hand, kohyaLoaded].map((m) => encodePrompts(m, prompts)));
    const d = {
      loaded_vs_hand_merged: absDiff(pixels.loaded, pixels.hand),
      loaded_vs_kohya: absDiff(pixels.loaded, pixels.kohya),
      untuned_vs_loaded: absDiff(pixels.untuned, pixels.loaded),
      ti_only_vs_loaded: absDiff(pixels.tiOnly, pixels.loaded),
    };
    const checks = {
      loaded_matches_hand_merged: d.loaded_vs_hand_merged.max <= ADAPTER_TOLERANCES.loaded_vs_hand_merged,
      kohya_matches_loaded: d.loaded_vs_kohya.max <= ADAPTER_TOLERANCES.loaded_vs_kohya,
      adapters_change_generation: d.untuned_vs_loaded.max >= ADAPTER_TOLERANCES.min_change,
      lora_changes_generation: d.ti_only_vs_loaded.max >= ADAPTER_TOLERANCES.min_change,
      prompt_tokens_match: JSON.stringify(tokens(loaded)) === JSON.stringify(tokens(hand)),
      files_match_finetune_service:
        Object.keys(sameAsService).length === 2 && Object.values(sameAsService).every(Boolean),
    };
    const pass = Object.values(checks).every(Boolean);
    results.adapters = {
      classes: [...HELD_OUT],
      shots: ADAPTER_SHOTS,
      ti_steps: ADAPTER_TI_STEPS,
      lora_steps: ADAPTER_LORA_STEPS,
      rank: ADAPTER_RANK,
      alpha: ADAPTER_ALPHA,
      lora_layers: layers.length,
      train_seconds: round(result.seconds, 1),
      files,
      same_bytes_as_finetune_service: sameAsService,
      hand_merge: {
        how: "W' = W + alpha/rank·B·A into a copy of unet/model.onnx's named initializers (layout from each weight's MatMul), TI rows appended to the token table, tokens in tokenizer/added_tokens.json; from the trained layers in memory, not the files",
        largest_abs_delta_w: sci(byHand.largestDelta),
        token_ids: byHand.tokenIds,
        loaded_token_ids: placeholderIds(loaded),
        prompt_tokens: tokens(hand),
      },
      unet_weights_loader_vs_hand: await compareMergedWeights(peft, handDir),
      generation: {
        images: ADAPTER_IMAGES,
        prompts,
        seeds: Array.from({ length: ADAPTER_IMAGES }, (_, i) => 2024 + i),
        sampler: "DPM-Solver++ 25 steps, CFG 7.5",
        compared: "decoded pixels in [0, 1], 8 × 3 × 32 × 32",
        models: {
          loaded:
            "the kit + learned_embeds.safetensors + pytorch_lora_weights.safetensors through withAdapters",
          hand_merged: "the kit copy merged by hand (hand_merge)",
          kohya: "the kit + learned_embeds.safetensors + lora_kohya.safetensors through withAdapters",
          ti_only: "the kit + learned_embeds.safetensors alone (so ti_only_vs_loaded is the LoRA's share)",
          untuned: "the kit, same prompts (its tokenizer splits the placeholders into word pieces)",
        },
      },
      max_abs_diff: Object.fromEntries(Object.entries(d).map(([k, v]) => [k, sci(v.max)])),
      mean_abs_diff: Object.fromEntries(Object.entries(d).map(([k, v]) => [k, sci(v.mean)])),
      text_states_max_abs_diff: {
        loaded_vs_hand_merged: sci(absDiff(states[0].data, states[1].data).max),
        loaded_vs_kohya: sci(absDiff(states[0].data, states[2].data).max),
      },
      tolerances: { ...ADAPTER_TOLERANCES },
      checks,
      pass,
    };
    log(
      `  max |Δ| loaded−hand ${d.loaded_vs_hand_merged.max.toExponential(2)}, loaded−kohya ${d.loaded_vs_kohya.max.toExponential(2)}, untuned−loaded ${d.untuned_vs_loaded.max.toFixed(3)}, TI-only−loaded ${d.ti_only_vs_loaded.max.toFixed(3)}: ${pass ? "pass" : "FAIL"}`,
    );
    if (!pass) process.exitCode = 1;
  } finally {
    for (const m of opened.reverse()) await m.release();
    await hand.release();
    await untuned.release();
  }
}

const PHASES: Record<string, (r: Results) => Promise<void>> = { timing, full, recognition, adapters };

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
