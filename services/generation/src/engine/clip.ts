import { access, readFile } from "node:fs/promises";
import { join } from "node:path";
import {
  type ClipScorer,
  type ClipTokenizer,
  loadClipTokenizer,
  openComponent,
  type SessionSettings,
} from "../../../../shared/diffusion/index.js";
import { decodeModel } from "../../../../shared/ml/onnx/index.js";

/**
 * A CLIP-style scorer folder, as the bundled kit writes it (`<model>/clip/`):
 * - `vision_model.onnx`: pixel_values [batch, 3, S, S] → image_embeds;
 * - `text_model.onnx`: input_ids [batch, L] → text_embeds;
 * - `config.json`: `image_size` S, `logit_scale`, and the pixel normalisation as `pixel_range` [-1, 1]
 *   (mean = std = 0.5) or explicit `image_mean` / `image_std`;
 * - `tokenizer/` (optional; default: the diffusion model's tokenizer, which the kit's CLIP shares).
 */
const CLIP_FILES = Object.freeze({
  vision: "vision_model.onnx",
  text: "text_model.onnx",
  config: "config.json",
  tokenizer: "tokenizer",
});

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/** The scorer folder of a model folder (`<dir>/clip`) or `dir` itself when it is one; undefined if neither. */
export async function findClipFolder(dir: string): Promise<string | undefined> {
  for (const candidate of [join(dir, "clip"), dir]) {
    if (
      (await exists(join(candidate, CLIP_FILES.vision))) &&
      (await exists(join(candidate, CLIP_FILES.text)))
    ) {
      return candidate;
    }
  }
  return undefined;
}

interface ClipConfig {
  readonly image_size?: number;
  readonly logit_scale?: number;
  readonly pixel_range?: readonly number[];
  readonly image_mean?: readonly number[];
  readonly image_std?: readonly number[];
}

function normalisation(config: ClipConfig): { mean?: readonly number[]; std?: readonly number[] } {
  if (config.image_mean && config.image_std) return { mean: config.image_mean, std: config.image_std };
  const range = config.pixel_range;
  if (range && range.length === 2) {
    // [lo, hi] = (x − mean) / std at x = 0 and 1: std = 1 / (hi − lo), mean = −lo · std.
    const std = 1 / (range[1] - range[0]);
    const mean = -range[0] * std;
    return { mean: [mean, mean, mean], std: [std, std, std] };
  }
  return {};
}

/**
 * Loads a scorer for GIF from a CLIP folder: the vision graph as is, and one text embedding per class
 * prompt computed once with the text graph (its session is released right after).
 */
export async function loadClipScorerFolder(
  dir: string,
  classPrompts: readonly string[],
  fallbackTokenizer: ClipTokenizer,
  settings: SessionSettings,
): Promise<ClipScorer> {
  const config = JSON.parse(await readFile(join(dir, CLIP_FILES.config), "utf8")) as ClipConfig;
  const imageEncoder = decodeModel(await readFile(join(dir, CLIP_FILES.vision)));
  const tokenizerDir = join(dir, CLIP_FILES.tokenizer);
  const tokenizer = (await exists(tokenizerDir)) ? await loadClipTokenizer(tokenizerDir) : fallbackTokenizer;
  const text = await openComponent("clip_text", join(dir, CLIP_FILES.text), settings);
  try {
    const encoded = tokenizer.encodeBatch(classPrompts);
    const ids = text.io.inputs[0];
    const out = await text.run({
      [ids.name]: { data: encoded.inputIds, dims: [encoded.batchSize, encoded.sequenceLength] },
    });
    const embeds = out.text_embeds ?? Object.values(out)[0];
    const imageSize =
      config.image_size ??
      Number(imageEncoder.graph.input[0]?.type?.tensorType?.shape?.dim?.[2]?.dimValue ?? 224);
    return {
      imageEncoder,
      imageSize,
      classEmbeddings: embeds.data,
      numClasses: classPrompts.length,
      logitScale: config.logit_scale,
      ...normalisation(config),
    };
  } finally {
    await text.release();
  }
}
