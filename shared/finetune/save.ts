import { cp, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { COMPONENT_DIRS, componentModelPath, float32ToFloat16 } from "../diffusion/models/index.js";
import { bytesOf, DataType, decodeModel, encodeModel, type Tensor } from "../ml/onnx/index.js";
import { saveSafetensors } from "../ml/safetensors/index.js";
import type { FineTuneResult } from "./finetune.js";
import { inlineExternalData } from "./graph-io.js";
import { type LoraKeyFormat, loraStateDict } from "./lora.js";
import { textualInversionStateDict } from "./textual-inversion.js";

/** File names of a fine-tuning output folder (diffusers' names where diffusers has one). */
export const OUTPUT_FILES = Object.freeze({
  textualInversion: "learned_embeds.safetensors",
  lora: "pytorch_lora_weights.safetensors",
  loraKohya: "lora_kohya.safetensors",
  unetWeights: "unet_weights.safetensors",
});

/** Options of {@link saveFineTuneResult}. */
export interface SaveOptions {
  /** Key conventions to write LoRA weights in (default ["peft"]; "kohya" adds {@link OUTPUT_FILES.loraKohya}). */
  readonly loraFormats?: readonly LoraKeyFormat[];
}

/**
 * Writes a run's adapters into `dir`: TI embeddings as diffusers' `learned_embeds.safetensors` (one
 * [1, dim] tensor per token), LoRA as `pytorch_lora_weights.safetensors` with PEFT keys (and kohya keys on
 * request), a full fine-tune's UNet weights as `unet_weights.safetensors` (ONNX initializer names; see
 * {@link writeFineTunedModel} for a loadable folder). Returns the paths written.
 */
export async function saveFineTuneResult(
  result: FineTuneResult,
  dir: string,
  options: SaveOptions = {},
): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const written: string[] = [];
  const metadata = { format: "pt", producer: "diffda", method: result.method };
  if (result.concepts) {
    const path = join(dir, OUTPUT_FILES.textualInversion);
    await saveSafetensors(path, textualInversionStateDict(result.concepts), metadata);
    written.push(path);
  }
  if (result.lora) {
    for (const format of options.loraFormats ?? ["peft"]) {
      const path = join(dir, format === "peft" ? OUTPUT_FILES.lora : OUTPUT_FILES.loraKohya);
      await saveSafetensors(path, loraStateDict(result.lora, format), metadata);
      written.push(path);
    }
  }
  if (result.unetWeights) {
    const path = join(dir, OUTPUT_FILES.unetWeights);
    await saveSafetensors(path, result.unetWeights, metadata);
    written.push(path);
  }
  return written;
}

/**
 * The base folder's `unet/model.onnx` with `weights` in place of its initializers (same names), stored inline
 * in the export's own float type (float16 exports get float16 back). Models over 2 GB cannot be written inline.
 */
export async function patchedUnetModel(
  baseDir: string,
  weights: ReadonlyMap<string, Tensor>,
): Promise<Uint8Array> {
  const path = componentModelPath(baseDir, COMPONENT_DIRS.unet);
  const model = await inlineExternalData(decodeModel(await readFile(path)), path);
  const seen = new Set<string>();
  for (const t of model.graph.initializer) {
    const w = weights.get(t.name);
    if (!w) continue;
    seen.add(t.name);
    if (w.dims.join() !== t.dims.join()) throw new Error(`${t.name}: [${w.dims}] does not fit [${t.dims}]`);
    const values = w.data as Float32Array;
    if (t.dataType === DataType.FLOAT16) t.rawData = bytesOf(float32ToFloat16(values));
    else if (t.dataType === DataType.FLOAT) t.rawData = bytesOf(values);
    else throw new Error(`${t.name}: cannot write weights into data type ${t.dataType}`);
    t.floatData = undefined;
    t.int32Data = undefined;
  }
  const missing = [...weights.keys()].filter((n) => !seen.has(n));
  if (missing.length > 0) throw new Error(`not initializers of the UNet: ${missing.slice(0, 5).join(", ")}`);
  return encodeModel(model);
}

/**
 * A complete model folder with a fully fine-tuned UNet: every component of `baseDir` copied, `unet/model.onnx`
 * rewritten with the trained weights (inline), so `loadDiffusionModel(outDir)` serves it.
 */
export async function writeFineTunedModel(
  baseDir: string,
  outDir: string,
  weights: ReadonlyMap<string, Tensor>,
): Promise<void> {
  const bytes = await patchedUnetModel(baseDir, weights);
  await mkdir(outDir, { recursive: true });
  for (const entry of await readdir(baseDir, { withFileTypes: true })) {
    if (entry.name === COMPONENT_DIRS.unet) continue;
    await cp(join(baseDir, entry.name), join(outDir, entry.name), { recursive: true });
  }
  await mkdir(join(outDir, COMPONENT_DIRS.unet), { recursive: true });
  for (const entry of await readdir(join(baseDir, COMPONENT_DIRS.unet), { withFileTypes: true })) {
    if (entry.isFile() && entry.name.endsWith(".json"))
      await cp(join(baseDir, COMPONENT_DIRS.unet, entry.name), join(outDir, COMPONENT_DIRS.unet, entry.name));
  }
  await writeFile(componentModelPath(outDir, COMPONENT_DIRS.unet), bytes);
}
