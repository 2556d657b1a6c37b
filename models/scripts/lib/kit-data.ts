/**
 * The kit's training data and frozen-model helpers, shared by the training stages (train-kit.ts, the edit
 * stage), the sampler and the kit benchmark.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { NoiseSchedule } from "../../../shared/diffusion/index.js";
import { buildCorpus, KIT_MAX_LENGTH, type KitCorpus } from "../../../shared/kit/corpus.js";
import { type KitTokenizerFiles, kitTokenizer } from "../../../shared/kit/tokenizer.js";
import { f32, type Tensor } from "../../../shared/ml/onnx/index.js";
import { DataType } from "../../../shared/ml/onnx/types.js";
import { createSession, runSession } from "../../../shared/ml/runtime/index.js";
import type { Rng } from "../../../shared/random/index.js";
import { readJson } from "./common.js";
import { CACHE_DIR, KIT_DIR } from "./config.js";

const IMG = 3 * 32 * 32;

let corpusMemo: Promise<KitCorpus> | undefined;
export function trainCorpus(): Promise<KitCorpus> {
  corpusMemo ??= buildCorpus("train").then((c) => limitCorpus(c, Number(process.env.KIT_CORPUS_LIMIT ?? 0)));
  return corpusMemo;
}

/** An evenly strided subset of `limit` images (smoke runs only; 0 keeps everything). */
function limitCorpus(c: KitCorpus, limit: number): KitCorpus {
  if (!limit || limit >= c.count) return c;
  const stride = c.count / limit;
  const pickIdx = Array.from({ length: limit }, (_, k) => Math.floor(k * stride));
  const images = new Float32Array(limit * IMG);
  pickIdx.forEach((i, k) => {
    images.set(c.images.subarray(i * IMG, (i + 1) * IMG), k * IMG);
  });
  return {
    images,
    classes: Int32Array.from(pickIdx, (i) => c.classes[i]),
    colors: Int32Array.from(pickIdx, (i) => c.colors[i]),
    count: limit,
  };
}

/** Images at `indices` scaled to [-1, 1] (or kept in [0, 1]). */
export function imageBatch(c: KitCorpus, indices: number[], signed = true): Tensor {
  const t = f32([indices.length, 3, 32, 32]);
  const d = t.data as Float32Array;
  indices.forEach((i, k) => {
    const src = c.images.subarray(i * IMG, (i + 1) * IMG);
    if (signed) for (let p = 0; p < IMG; p++) d[k * IMG + p] = src[p] * 2 - 1;
    else d.set(src, k * IMG);
  });
  return t;
}

export function pick(rng: Rng, n: number, count: number): number[] {
  return Array.from({ length: n }, () => rng.nextInt(count));
}

export async function loadTokenizerFiles(): Promise<KitTokenizerFiles> {
  const dir = join(KIT_DIR, "tokenizer");
  return {
    vocab: await readJson(join(dir, "vocab.json")),
    merges: await readFile(join(dir, "merges.txt"), "utf8"),
    tokenizerConfig: await readJson(join(dir, "tokenizer_config.json")),
    specialTokensMap: await readJson(join(dir, "special_tokens_map.json")),
  };
}

export function idsTensor(ids: Int32Array, batch: number): Tensor {
  return { dtype: DataType.INT32, dims: [batch, KIT_MAX_LENGTH], data: ids };
}

/** The SD1.5 training noise schedule (scaled_linear 0.00085 → 0.012, 1000 steps). */
export function kitNoiseSchedule(): NoiseSchedule {
  return new NoiseSchedule({
    numTrainTimesteps: 1000,
    betaStart: 0.00085,
    betaEnd: 0.012,
    betaSchedule: "scaled_linear",
    trainedBetas: null,
    rescaleBetasZeroSnr: false,
    predictionType: "epsilon",
    timestepSpacing: "leading",
    stepsOffset: 1,
  });
}

/** Hidden states of every corpus caption, the empty prompt first (frozen text encoder). */
export async function textCache(texts: string[]): Promise<Map<string, Float32Array>> {
  const tok = kitTokenizer(await loadTokenizerFiles());
  const session = await createSession(await readFile(join(KIT_DIR, "text_encoder", "model.onnx")));
  const out = new Map<string, Float32Array>();
  for (let s = 0; s < texts.length; s += 256) {
    const part = texts.slice(s, s + 256);
    const h = (
      await runSession(session, { input_ids: idsTensor(tok.encodeBatch(part).inputIds, part.length) }, [
        "last_hidden_state",
      ])
    ).last_hidden_state.data as Float32Array;
    const size = h.length / part.length;
    part.forEach((t, k) => {
      out.set(t, h.slice(k * size, (k + 1) * size));
    });
  }
  await session.release();
  return out;
}

export async function loadLatents(): Promise<{ latents: Float32Array; scale: number }> {
  const buf = await readFile(join(CACHE_DIR, "latents.f32"));
  const latents = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  const { scaling_factor } = await readJson<{ scaling_factor: number }>(
    join(KIT_DIR, "vae_encoder", "config.json"),
  );
  return { latents, scale: scaling_factor };
}
