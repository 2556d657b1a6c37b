/**
 * The tiny test models as a MODEL_DIR for real service processes (tests and bench/chaos).
 */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildTinyParts, tinyVocabulary, writeTinyFolder } from "../diffusion/testing/tiny-folder.js";
import { tinyImageEncoder } from "../diffusion/testing/tiny-models.js";
import { GraphBuilder } from "../ml/graph/builder.js";
import { toModel } from "../ml/graph/model.js";
import { DataType, encodeModel } from "../ml/onnx/index.js";
import { Rng } from "../random/index.js";

/** Ids of the tiny test models. */
export const TINY = "tiny";
export const TINY_EDIT = "tiny-edit";

/** A folder of tiny model folders, as MODEL_DIR for a service. */
export interface TinyModels {
  /** MODEL_DIR: holds `tiny/` (text-to-image with a `clip/` scorer) and `tiny-edit/` (InstructPix2Pix). */
  readonly root: string;
  remove(): Promise<void>;
}

/** A CLIP-style text model for tests: token embeddings averaged, projected to `embedDim` (text_embeds). */
function tinyClipText(vocabSize: number, length: number, embedDim: number): Uint8Array {
  const b = new GraphBuilder({ name: "clip_text", seed: 7 });
  const rng = new Rng(7, 1);
  const ids = b.input("input_ids", ["batch", length], DataType.INT32);
  const table = b.floats(
    [vocabSize, 16],
    Float32Array.from({ length: vocabSize * 16 }, () => rng.nextNormal()),
  );
  const projection = b.floats(
    [16, embedDim],
    Float32Array.from({ length: 16 * embedDim }, () => rng.nextNormal() / 4),
  );
  const mean = b.op("ReduceMean", [b.op("Gather", [table, ids], { axis: 0 }), b.ints([1])], { keepdims: 0 });
  b.output(b.op("MatMul", [mean, projection]), "text_embeds");
  return encodeModel(toModel(b.graph));
}

/** Writes the tiny text-to-image and instruction-edit models (optimum layout: 32×32 images, 8×8 latents). */
export async function tinyModels(): Promise<TinyModels> {
  const root = await mkdtemp(join(tmpdir(), "diffda-services-"));
  const t2i = { layout: "optimum" as const };
  await writeTinyFolder(join(root, TINY), buildTinyParts(t2i), t2i);
  const edit = { layout: "optimum" as const, instructPix2Pix: true };
  await writeTinyFolder(join(root, TINY_EDIT), buildTinyParts(edit), edit);
  const clip = join(root, TINY, "clip");
  await mkdir(clip, { recursive: true });
  await writeFile(join(clip, "vision_model.onnx"), encodeModel(toModel(tinyImageEncoder(16, 8).graph)));
  const vocabSize = Object.keys(tinyVocabulary().vocab).length;
  await writeFile(join(clip, "text_model.onnx"), tinyClipText(vocabSize, 16, 8));
  await writeFile(
    join(clip, "config.json"),
    JSON.stringify({ image_size: 16, logit_scale: 20, pixel_range: [-1, 1] }),
  );
  return { root, remove: () => rm(root, { recursive: true, force: true }) };
}
