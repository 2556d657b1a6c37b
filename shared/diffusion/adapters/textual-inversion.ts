import type { Tensor, TensorProto } from "../../ml/onnx/index.js";
import { DataType } from "../../ml/onnx/index.js";
import { float16ToFloat32 } from "../models/float16.js";
import type { ClipTokenizer } from "../tokenizer/index.js";
import { floatInitializer, readFloatInitializer, type WeightRef } from "./onnx-weights.js";

/** One textual-inversion concept: its placeholder token and one or more embedding vectors. */
export interface TextualInversion {
  /** The placeholder as prompts write it, e.g. `<cat-toy>`. */
  readonly token: string;
  /** Vectors × hidden, row-major. */
  readonly vectors: Float32Array;
  readonly count: number;
  readonly dim: number;
}

function toFloat32(t: Tensor, key: string): Float32Array {
  if (t.data instanceof Float32Array) return Float32Array.from(t.data);
  if (t.data instanceof Float64Array) return Float32Array.from(t.data);
  if (t.data instanceof Uint16Array && t.dtype === DataType.FLOAT16) return float16ToFloat32(t.data);
  if (t.data instanceof Uint16Array && t.dtype === DataType.BFLOAT16) {
    return new Float32Array(Uint32Array.from(t.data, (b) => b << 16).buffer);
  }
  throw new Error(`textual inversion ${key}: embeddings must be float tensors`);
}

function concept(token: string, t: Tensor, key: string): TextualInversion {
  if (t.dims.length !== 1 && t.dims.length !== 2) {
    throw new Error(
      `textual inversion ${key}: expected [dim] or [vectors, dim], got ${JSON.stringify(t.dims)}`,
    );
  }
  const count = t.dims.length === 1 ? 1 : t.dims[0];
  const dim = t.dims[t.dims.length - 1];
  if (count < 1 || dim < 1) throw new Error(`textual inversion ${key}: empty embedding`);
  return { token, vectors: toFloat32(t, key), count, dim };
}

/**
 * Reads textual-inversion embeddings from a state dict:
 * - diffusers `learned_embeds.safetensors`: one tensor per placeholder token, named by the token ([dim] or
 *   [vectors, dim]);
 * - A1111 / kohya embeddings: a single `emb_params` (or `string_to_param.*`) tensor [vectors, dim]; the
 *   token is `token` (A1111 uses the file name).
 * `token`, when given for a diffusers file with one tensor, renames its placeholder (diffusers'
 * `load_textual_inversion(..., token=)`).
 */
export function parseTextualInversion(
  tensors: ReadonlyMap<string, Tensor>,
  token?: string,
): TextualInversion[] {
  const a1111 = tensors.get("emb_params") ?? tensors.get("string_to_param.*");
  if (a1111) {
    if (!token) throw new Error("an A1111/kohya embedding (emb_params) needs the token to bind it to");
    return [concept(token, a1111, "emb_params")];
  }
  const entries = [...tensors].filter(([key]) => key !== "__metadata__");
  if (entries.length === 0) throw new Error("the textual-inversion file holds no embedding");
  if (token && entries.length > 1) throw new Error("a token can only rename a file with one embedding");
  return entries.map(([key, t]) => concept(token ?? key, t, key));
}

/** The tokens a concept occupies: `t`, then `t_1` … `t_{n−1}` for multi-vector embeddings (diffusers' naming). */
export function conceptTokens(c: TextualInversion): string[] {
  return Array.from({ length: c.count }, (_, i) => (i === 0 ? c.token : `${c.token}_${i}`));
}

/**
 * A prompt transform that expands every multi-vector placeholder to its tokens (`<t>` → `<t> <t>_1 <t>_2`,
 * diffusers' `maybe_convert_prompt`); identity for single-vector concepts.
 */
export function expandConceptTokens(
  concepts: readonly TextualInversion[],
): ((prompt: string) => string) | undefined {
  const multi = concepts.filter((c) => c.count > 1);
  if (multi.length === 0) return undefined;
  return (prompt) => {
    let out = prompt;
    for (const c of multi) out = out.split(c.token).join(conceptTokens(c).join(" "));
    return out;
  };
}

/**
 * Adds the concepts' tokens to the tokenizer and their vectors as new rows of the token-embedding table (a
 * Gather initializer [rows, dim]); the new rows start at the table's end, which must be the tokenizer's size.
 */
export async function addConceptRows(
  tokenizer: ClipTokenizer,
  concepts: readonly TextualInversion[],
  table: WeightRef,
  tensor: TensorProto,
  modelPath: string,
): Promise<{ tokenizer: ClipTokenizer; ids: readonly number[]; replacement: TensorProto }> {
  const [rows, dim] = table.dims;
  if (tokenizer.size !== rows) {
    throw new Error(`the tokenizer has ${tokenizer.size} ids but the token embedding ${rows} rows`);
  }
  for (const c of concepts) {
    if (c.dim !== dim) throw new Error(`embedding ${c.token} has dim ${c.dim}, the text encoder ${dim}`);
  }
  const { tokenizer: extended, ids } = tokenizer.withAddedTokens(concepts.flatMap(conceptTokens));
  if (ids[0] !== rows || ids.some((id, i) => id !== rows + i))
    throw new Error("added token ids must follow the table");
  const base = await readFloatInitializer(tensor, modelPath);
  const grown = new Float32Array((rows + ids.length) * dim);
  grown.set(base);
  let at = rows * dim;
  for (const c of concepts) {
    grown.set(c.vectors, at);
    at += c.vectors.length;
  }
  return { tokenizer: extended, ids, replacement: floatInitializer(tensor, grown, [rows + ids.length, dim]) };
}
