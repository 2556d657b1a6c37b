/**
 * Adapters written by diffda load back and change generation exactly as merging them by hand does, on the
 * bundled kit. A short TI+LoRA fine-tune (5 shots of the held-out classes sandal and bag, 60 TI + 60 LoRA
 * steps, rank 8, alpha 16 so that the alpha / rank scale is not 1) writes its adapters as shared/finetune
 * writes them (learned_embeds.safetensors, PEFT-keyed pytorch_lora_weights.safetensors, the kohya-keyed
 * export), and the first two must hold the same bytes as the finetune service's artifacts. One fixed batch
 * (8 images, DPM-Solver++ 25 steps, CFG 7.5) is then generated with:
 * - loaded: the TI and PEFT files through shared/diffusion/adapters (withAdapters);
 * - hand-merged: a copy of the kit with W + (alpha/rank)·B·A written into the UNet's (and text encoder's)
 *   ONNX initializers, the TI rows appended to the token table and the tokens in
 *   tokenizer/added_tokens.json, by code independent of the adapters module, from the trained layers in
 *   memory rather than the files;
 * - kohya: the TI file and the kohya file through the loader;
 * - TI only and untuned, so that the LoRA and the adapters as a whole are seen to change the images.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { adaptersOf } from "../services/finetune/src/run.js";
import type { FinetunePlan } from "../services/finetune/src/spec.js";
import { loadBuiltinDataset, makeFewShotTask, padImageSet, toRgb } from "../shared/data/index.js";
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
  type FineTuneResult,
  fineTune,
  KIT_TEMPLATES,
  OUTPUT_FILES,
  saveFineTuneResult,
} from "../shared/finetune/index.js";
import {
  DataType,
  decodeModel,
  encodeModel,
  type ModelProto,
  type TensorProto,
} from "../shared/ml/onnx/index.js";

const KIT_DIR = "models/diffda-kit-v1";
const HELD_OUT = ["sandal", "bag"] as const;

const ADAPTER_SHOTS = 5;
const ADAPTER_TI_STEPS = 60;
const ADAPTER_LORA_STEPS = 60;
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

/** The loader's merged UNet initializers (its own merge code) against the hand-merged ones, element by element. */
async function compareMergedWeights(
  loraFile: Awaited<ReturnType<typeof loadLoraFile>>,
  handDir: string,
): Promise<{ initializers: number; elements: number; maxAbsDiff: number }> {
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
  let elements = 0;
  for (const [name, tensor] of merged) {
    const h = hand.get(name);
    if (!h) throw new Error(`the hand-merged UNet lacks ${name}`);
    const a = handFloats(tensor);
    const b = handFloats(h);
    elements += a.length;
    for (let i = 0; i < a.length; i++) {
      max = Math.max(max, Math.abs(a[i] - b[i]));
    }
  }
  return { initializers: merged.size, elements, maxAbsDiff: max };
}

/** Few-shot training images of the held-out classes: fashion-mnist train split, padded to 32 px, white on black (a kit colour). */
async function heldOutImages(shots: number) {
  const task = makeFewShotTask(await loadBuiltinDataset("fashion-mnist"), {
    shots,
    seed: 0,
    classes: [...HELD_OUT],
    testPerClass: 1,
  });
  return toRgb(padImageSet(task.trainSet, 32, 32));
}

describe("fine-tuned adapters on the kit", () => {
  let dir: string;
  let result: FineTuneResult;
  let filesDir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "diffda-adapters-"));
    result = await fineTune({
      modelDir: KIT_DIR,
      method: "ti-lora",
      images: await heldOutImages(ADAPTER_SHOTS),
      templates: KIT_TEMPLATES,
      tokens: HELD_OUT.map((c) => `<${c}>`),
      threads: Math.min(2, availableParallelism()),
      worker: true,
      tiSettings: { steps: ADAPTER_TI_STEPS },
      settings: { steps: ADAPTER_LORA_STEPS },
      rank: ADAPTER_RANK,
      alpha: ADAPTER_ALPHA,
    });
    filesDir = join(dir, "files");
    await saveFineTuneResult(result, filesDir, { loraFormats: ["peft", "kohya"] });
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test("the written files hold the same bytes as the finetune service's artifacts", async () => {
    assert.equal(result.concepts?.length, HELD_OUT.length);
    assert.ok((result.lora?.length ?? 0) > 0, "the run trained no LoRA layer");
    const artifacts = adaptersOf(result, { rank: ADAPTER_RANK, alpha: ADAPTER_ALPHA } as FinetunePlan);
    const compared: string[] = [];
    for (const { file } of artifacts) {
      if (!file?.name || !file.content) continue;
      const onDisk = createHash("sha256")
        .update(await readFile(join(filesDir, file.name)))
        .digest("hex");
      assert.equal(onDisk, file.sha256, file.name);
      compared.push(file.name);
    }
    assert.deepEqual(compared.sort(), [OUTPUT_FILES.textualInversion, OUTPUT_FILES.lora].sort());
  });

  test("loaded adapters generate what the hand-merged kit generates; the kohya file the same", async () => {
    const concepts = result.concepts ?? [];
    const layers = result.lora ?? [];
    const handDir = join(dir, "hand-merged-kit");
    const byHand = await handMergedKit(handDir, layers, concepts);
    assert.ok(byHand.largestDelta > 0, "the hand merge changed no weight");
    const tiFile = await loadTextualInversionFile(join(filesDir, OUTPUT_FILES.textualInversion));
    // As the generation engine reads a job's PEFT file: the job's lora_alpha for layers without their own.
    const peft = await loadLoraFile(join(filesDir, OUTPUT_FILES.lora), { alpha: ADAPTER_ALPHA });
    const kohya = await loadLoraFile(join(filesDir, OUTPUT_FILES.loraKohya));

    const weights = await compareMergedWeights(peft, handDir);
    assert.ok(weights.initializers > 0);
    assert.ok(weights.maxAbsDiff <= ADAPTER_TOLERANCES.loaded_vs_kohya, `UNet weights ${weights.maxAbsDiff}`);

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
      // The placeholders' ids may differ (the loader adds the file's tokens in its key order, the hand merge
      // in class order); what must agree is the tokens a prompt becomes and the rows they read (text states).
      const tokens = (m: DiffusionModel) => prompts.map((p) => m.tokenizer.tokenize(m.preparePrompt(p)));
      assert.deepEqual(tokens(loaded), tokens(hand));
      const states = await Promise.all([loaded, hand, kohyaLoaded].map((m) => encodePrompts(m, prompts)));
      assert.ok(absDiff(states[0].data, states[1].data).max <= ADAPTER_TOLERANCES.loaded_vs_hand_merged);
      assert.ok(absDiff(states[0].data, states[2].data).max <= ADAPTER_TOLERANCES.loaded_vs_kohya);

      const pixels = {
        loaded: await fixedBatch(loaded, prompts),
        hand: await fixedBatch(hand, prompts),
        kohya: await fixedBatch(kohyaLoaded, prompts),
        tiOnly: await fixedBatch(tiOnly, prompts),
        untuned: await fixedBatch(untuned, prompts),
      };
      const vsHand = absDiff(pixels.loaded, pixels.hand).max;
      const vsKohya = absDiff(pixels.loaded, pixels.kohya).max;
      const vsUntuned = absDiff(pixels.untuned, pixels.loaded).max;
      const vsTiOnly = absDiff(pixels.tiOnly, pixels.loaded).max;
      assert.ok(vsHand <= ADAPTER_TOLERANCES.loaded_vs_hand_merged, `loaded vs hand-merged ${vsHand}`);
      assert.ok(vsKohya <= ADAPTER_TOLERANCES.loaded_vs_kohya, `loaded vs kohya ${vsKohya}`);
      assert.ok(vsUntuned >= ADAPTER_TOLERANCES.min_change, `the adapters moved pixels by ${vsUntuned}`);
      assert.ok(vsTiOnly >= ADAPTER_TOLERANCES.min_change, `the LoRA moved pixels by ${vsTiOnly}`);
    } finally {
      for (const m of opened.reverse()) await m.release();
      await hand.release();
      await untuned.release();
    }
  });
});
