import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Graph } from "../../ml/graph/ir.js";
import { toModel } from "../../ml/graph/model.js";
import { DataType, encodeModel, type ModelProto } from "../../ml/onnx/index.js";
import { float32ToFloat16 } from "../models/float16.js";
import { SD15_SCHEDULER_CONFIG } from "../schedulers/index.js";
import { BYTE_ENCODER } from "../tokenizer/index.js";
import {
  type TinyComponent,
  type TinySizes,
  tinyTextEncoder,
  tinyUnet,
  tinyVaeDecoder,
  tinyVaeEncoder,
} from "./tiny-models.js";

/**
 * The two export layouts the loader accepts:
 * - "legacy": diffusers' `convert_stable_diffusion_checkpoint_to_onnx.py` — int32 input_ids, float32 timestep
 *   of shape [1], `latent_sample` sampled inside the VAE encoder, anonymous MatMul weights, no config.json
 *   (so the SD defaults apply: VAE factor 8);
 * - "optimum": Optimum's export — int64 input_ids, int64 timestep ["steps"], `latent_parameters`, named
 *   weights, a config.json per component (VAE factor 4 here), the UNet's weights in external data.
 */
export type TinyLayout = "legacy" | "optimum";

/** Words the tiny tokenizer merges into single tokens. */
const WORDS = ["a", "photo", "of", "cat", "dog", "bird", "car", "the", "make", "it", "snowy", "sketch"];

/** A CLIP-layout vocabulary (every byte-level symbol, alone and with `</w>`, merged words) and its merges. */
export function tinyVocabulary(): { vocab: Record<string, number>; merges: string } {
  const vocab: Record<string, number> = {};
  const add = (token: string) => {
    if (!(token in vocab)) vocab[token] = Object.keys(vocab).length;
  };
  for (const c of BYTE_ENCODER) add(c);
  for (const c of BYTE_ENCODER) add(`${c}</w>`);
  const merges: string[] = [];
  for (const word of WORDS) {
    const symbols = [...word];
    symbols[symbols.length - 1] += "</w>";
    let current = symbols[0];
    for (let i = 1; i < symbols.length; i++) {
      const merge = `${current} ${symbols[i]}`;
      if (!merges.includes(merge)) merges.push(merge);
      current += symbols[i];
      add(current);
    }
  }
  add("<|startoftext|>");
  add("<|endoftext|>");
  return { vocab, merges: ["#version: 0.2", ...merges].join("\n") };
}

/** Options of a tiny model folder. */
export interface TinyOptions {
  readonly layout: TinyLayout;
  /** An InstructPix2Pix-style UNet (latent ‖ image latent input). */
  readonly instructPix2Pix?: boolean;
  /** Store the UNet in float16 (weights and inputs/outputs; computed in float32 through Casts). */
  readonly fp16Unet?: boolean;
  readonly seed?: number;
}

/** The components of a tiny model, editable before writing (hand-merged weights in adapter tests). */
export interface TinyParts {
  readonly sizes: TinySizes;
  readonly textEncoder: TinyComponent;
  readonly unet: TinyComponent;
  readonly vaeEncoder: TinyComponent;
  readonly vaeDecoder: TinyComponent;
}

/** The sizes of a tiny model of `layout`. */
function tinySizes(layout: TinyLayout, instructPix2Pix = false): TinySizes {
  const vocabSize = Object.keys(tinyVocabulary().vocab).length;
  return {
    vocabSize,
    sequenceLength: 16,
    hidden: 16,
    latentChannels: 4,
    unetInChannels: instructPix2Pix ? 8 : 4,
    unetChannels: 8,
    vaeStages: layout === "legacy" ? 3 : 2,
    vaeChannels: 6,
  };
}

/** Builds the graphs of a tiny model (seeded, so two builds are identical). */
export function buildTinyParts(options: TinyOptions): TinyParts {
  const legacy = options.layout === "legacy";
  const sizes = tinySizes(options.layout, options.instructPix2Pix);
  const seed = options.seed ?? 0;
  const naming = legacy ? "anonymous" : "named";
  const unet = tinyUnet(
    sizes,
    naming,
    legacy ? { type: DataType.FLOAT, shape: [1] } : { type: DataType.INT64, shape: ["steps"] },
    seed * 10 + 2,
  );
  return {
    sizes,
    textEncoder: tinyTextEncoder(sizes, naming, legacy ? DataType.INT32 : DataType.INT64, seed * 10 + 1),
    unet: options.fp16Unet ? { graph: toFloat16Io(unet.graph), weights: unet.weights } : unet,
    vaeEncoder: tinyVaeEncoder(sizes, legacy ? "in-graph-sample" : "parameters", seed * 10 + 3),
    vaeDecoder: tinyVaeDecoder(sizes, seed * 10 + 4),
  };
}

/**
 * A float16 version of a float32 graph as fp16 exports look from outside: float initializers, inputs and
 * outputs are float16; inside, Casts to float32 feed the original ops (onnxruntime's CPU provider lacks
 * most float16 kernels).
 */
function toFloat16Io(source: Graph): Graph {
  const g = source.clone();
  const rename = new Map<string, string>();
  const casts: Graph["nodes"] = [];
  for (const [name, t] of g.initializers) {
    if (t.dtype !== DataType.FLOAT) continue;
    g.initializers.set(name, {
      dtype: DataType.FLOAT16,
      dims: t.dims,
      data: float32ToFloat16(t.data as Float32Array),
    });
    rename.set(name, `${name}__f32`);
    casts.push({
      op: "Cast",
      inputs: [name],
      outputs: [`${name}__f32`],
      attrs: { to: { kind: "int", value: DataType.FLOAT } },
      name: `${name}/Cast`,
      domain: "",
    });
  }
  for (const input of g.inputs) {
    if (input.dtype !== DataType.FLOAT) continue;
    input.dtype = DataType.FLOAT16;
    rename.set(input.name, `${input.name}__f32`);
    casts.push({
      op: "Cast",
      inputs: [input.name],
      outputs: [`${input.name}__f32`],
      attrs: { to: { kind: "int", value: DataType.FLOAT } },
      name: `${input.name}/Cast`,
      domain: "",
    });
  }
  for (const node of g.nodes) node.inputs = node.inputs.map((i) => rename.get(i) ?? i);
  const outputs: Graph["nodes"] = [];
  for (const output of g.outputs) {
    const inner = `${output.name}__f32`;
    for (const node of g.nodes) node.outputs = node.outputs.map((o) => (o === output.name ? inner : o));
    outputs.push({
      op: "Cast",
      inputs: [inner],
      outputs: [output.name],
      attrs: { to: { kind: "int", value: DataType.FLOAT16 } },
      name: `${output.name}/Cast`,
      domain: "",
    });
    output.dtype = DataType.FLOAT16;
  }
  g.nodes = [...casts, ...g.nodes, ...outputs];
  return g;
}

/** Moves every initializer of more than 64 bytes into `<fileName>` (ONNX external data); returns its bytes. */
function externalizeInitializers(model: ModelProto, fileName: string): Uint8Array {
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const t of model.graph.initializer) {
    if (!t.rawData || t.rawData.length <= 64) continue;
    const length = t.rawData.length;
    chunks.push(t.rawData.slice());
    t.rawData = undefined;
    t.dataLocation = 1;
    t.externalData = [
      { key: "location", value: fileName },
      { key: "offset", value: String(offset) },
      { key: "length", value: String(length) },
    ];
    offset += length;
  }
  const out = new Uint8Array(offset);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

async function writeJson(path: string, value: unknown): Promise<void> {
  await writeFile(path, `${JSON.stringify(value, null, 2)}\n`);
}

/** Writes a tiny model folder in `layout` (see {@link TinyLayout}). */
export async function writeTinyFolder(dir: string, parts: TinyParts, options: TinyOptions): Promise<void> {
  const legacy = options.layout === "legacy";
  const { sizes } = parts;
  for (const sub of ["scheduler", "tokenizer", "text_encoder", "unet", "vae_encoder", "vae_decoder"]) {
    await mkdir(join(dir, sub), { recursive: true });
  }
  const onnx = legacy ? ["diffusers", "OnnxRuntimeModel"] : ["optimum", "ORTModel"];
  await writeJson(join(dir, "model_index.json"), {
    _class_name: options.instructPix2Pix
      ? "OnnxStableDiffusionInstructPix2PixPipeline"
      : legacy
        ? "OnnxStableDiffusionPipeline"
        : "ORTStableDiffusionPipeline",
    _diffusers_version: "0.27.0",
    scheduler: ["diffusers", "PNDMScheduler"],
    text_encoder: onnx,
    tokenizer: ["transformers", "CLIPTokenizer"],
    unet: onnx,
    vae_decoder: onnx,
    vae_encoder: onnx,
  });
  await writeJson(join(dir, "scheduler", "scheduler_config.json"), SD15_SCHEDULER_CONFIG);
  const { vocab, merges } = tinyVocabulary();
  await writeJson(join(dir, "tokenizer", "vocab.json"), vocab);
  await writeFile(join(dir, "tokenizer", "merges.txt"), merges);
  await writeJson(join(dir, "tokenizer", "tokenizer_config.json"), {
    model_max_length: sizes.sequenceLength,
  });
  await writeFile(join(dir, "text_encoder", "model.onnx"), encodeModel(toModel(parts.textEncoder.graph)));
  const unetModel = toModel(parts.unet.graph);
  if (!legacy) {
    await writeFile(
      join(dir, "unet", "model.onnx_data"),
      externalizeInitializers(unetModel, "model.onnx_data"),
    );
  }
  await writeFile(join(dir, "unet", "model.onnx"), encodeModel(unetModel));
  await writeFile(join(dir, "vae_encoder", "model.onnx"), encodeModel(toModel(parts.vaeEncoder.graph)));
  await writeFile(join(dir, "vae_decoder", "model.onnx"), encodeModel(toModel(parts.vaeDecoder.graph)));
  if (!legacy) {
    const vae = {
      _class_name: "AutoencoderKL",
      in_channels: 3,
      out_channels: 3,
      latent_channels: sizes.latentChannels,
      block_out_channels: new Array(sizes.vaeStages + 1).fill(sizes.vaeChannels),
      scaling_factor: 0.2,
    };
    await writeJson(join(dir, "vae_encoder", "config.json"), vae);
    await writeJson(join(dir, "vae_decoder", "config.json"), vae);
    await writeJson(join(dir, "unet", "config.json"), {
      _class_name: "UNet2DConditionModel",
      in_channels: sizes.unetInChannels,
      out_channels: sizes.latentChannels,
      sample_size: 8,
      cross_attention_dim: sizes.hidden,
    });
    await writeJson(join(dir, "text_encoder", "config.json"), {
      architectures: ["CLIPTextModel"],
      hidden_size: sizes.hidden,
      vocab_size: sizes.vocabSize,
      max_position_embeddings: sizes.sequenceLength,
    });
  }
}
