import { conceptTokens, type TextualInversion } from "../diffusion/adapters/index.js";
import { type ClipTokenizer, knownWordIds } from "../diffusion/tokenizer/index.js";
import type { Graph } from "../ml/graph/index.js";
import { DataType, type Tensor } from "../ml/onnx/index.js";

/**
 * The token-embedding table of a text encoder graph: the float weight [rows, dim] that a Gather on the
 * token-id input `ids` (possibly through Cast/Identity) reads. Throws unless there is exactly one.
 */
export function findTokenTable(graph: Graph, ids: string): string {
  const fromIds = new Set([ids]);
  for (const node of graph.nodes) {
    if ((node.op === "Cast" || node.op === "Identity") && fromIds.has(node.inputs[0]))
      fromIds.add(node.outputs[0]);
  }
  const tables = new Set<string>();
  for (const node of graph.nodes) {
    if (node.op !== "Gather" || !fromIds.has(node.inputs[1])) continue;
    const t = graph.initializers.get(node.inputs[0]);
    if (t && graph.params.has(node.inputs[0]) && t.dims.length === 2) tables.add(node.inputs[0]);
  }
  if (tables.size !== 1)
    throw new Error(`expected one token-embedding table read by a Gather on ${ids}, found ${tables.size}`);
  return [...tables][0];
}

/** Rows added to a token table for new tokens. */
export interface AddedRows {
  /** The tokenizer that knows the new tokens. */
  readonly tokenizer: ClipTokenizer;
  /** First and one-past-last row of the new tokens. */
  readonly start: number;
  readonly end: number;
}

/**
 * Appends one row per token to the table `table` of `graph` (in place), with `vectors` (tokens × dim), and
 * adds the tokens to the tokenizer. The table must have exactly the tokenizer's ids as rows, so the new ids
 * are the new rows (as diffusers' `resize_token_embeddings`).
 */
export function appendTokenRows(
  graph: Graph,
  table: string,
  tokenizer: ClipTokenizer,
  tokens: readonly string[],
  vectors: Float32Array,
): AddedRows {
  const t = graph.initializers.get(table);
  if (!t || t.dtype !== DataType.FLOAT) throw new Error(`${table} is not a float32 table`);
  const [rows, dim] = t.dims;
  if (tokenizer.size !== rows)
    throw new Error(`the tokenizer has ${tokenizer.size} ids but the token embedding ${rows} rows`);
  if (vectors.length !== tokens.length * dim)
    throw new Error(`${tokens.length} tokens need ${tokens.length * dim} values, got ${vectors.length}`);
  const added = tokenizer.withAddedTokens(tokens);
  if (added.ids.some((id, i) => id !== rows + i)) throw new Error("added token ids must follow the table");
  const grown = new Float32Array((rows + tokens.length) * dim);
  grown.set(t.data as Float32Array);
  grown.set(vectors, rows * dim);
  graph.initializers.set(table, { dtype: DataType.FLOAT, dims: [rows + tokens.length, dim], data: grown });
  return { tokenizer: added.tokenizer, start: rows, end: rows + tokens.length };
}

/**
 * Starting vectors for new tokens: each the embedding of its initializer word (diffusers'
 * `initializer_token`). A word that tokenizes to several tokens gets the mean of their rows (diffusers
 * refuses such words; averaging lets a class name such as "handwritten digit nine" be the start).
 */
export function initialVectors(
  graph: Graph,
  table: string,
  tokenizer: ClipTokenizer,
  words: readonly string[],
): Float32Array {
  const t = graph.initializers.get(table) as Tensor;
  const dim = t.dims[1];
  const data = t.data as Float32Array;
  const out = new Float32Array(words.length * dim);
  words.forEach((word, k) => {
    const ids = tokenizer.tokenIds(word);
    if (ids.length === 0) throw new Error(`initializer word ${JSON.stringify(word)} has no tokens`);
    const target = out.subarray(k * dim, (k + 1) * dim);
    for (const id of ids) {
      const row = data.subarray(id * dim, (id + 1) * dim);
      for (let i = 0; i < dim; i++) target[i] += row[i] / ids.length;
    }
  });
  return out;
}

/** Which word a class's new token starts from, and why. */
export interface TokenInitializer {
  readonly word: string;
  /** "request": the caller's initializer word; "class": the class's own words; "default": the generic word. */
  readonly source: "request" | "class" | "default";
}

/**
 * The starting word of each class's token: the caller's word(s) when given (diffusers' `initializer_token`);
 * otherwise the class's prompt words when the tokenizer knows every one of them (not byte fallbacks, see
 * `knownWordIds`), so a concept the model can already draw starts where it is ("t-shirt"), else `fallback`
 * (the generic "the", for names the model never read).
 */
export function tokenInitializers(
  tokenizer: ClipTokenizer,
  classWords: readonly string[],
  requested: string | readonly string[] | undefined,
  fallback: string,
): TokenInitializer[] {
  if (requested !== undefined) {
    const words = typeof requested === "string" ? classWords.map(() => requested) : [...requested];
    if (words.length !== classWords.length)
      throw new RangeError(
        `expected ${classWords.length} initializer words (one per class), got ${words.length}`,
      );
    return words.map((word) => ({ word, source: "request" }));
  }
  return classWords.map((word) =>
    knownWordIds(tokenizer, word) !== undefined
      ? { word, source: "class" }
      : { word: fallback, source: "default" },
  );
}

/** The vectors of concepts, concatenated in their tokens' order (see `conceptTokens`). */
export function conceptVectors(concepts: readonly TextualInversion[]): {
  tokens: string[];
  vectors: Float32Array;
} {
  const tokens = concepts.flatMap(conceptTokens);
  const vectors = new Float32Array(concepts.reduce((n, c) => n + c.vectors.length, 0));
  let at = 0;
  for (const c of concepts) {
    vectors.set(c.vectors, at);
    at += c.vectors.length;
  }
  return { tokens, vectors };
}

/** Trained rows [tokens, dim] as one single-vector concept per token. */
export function learnedConcepts(tokens: readonly string[], rows: Tensor): TextualInversion[] {
  const dim = rows.dims[1];
  if (rows.dims[0] !== tokens.length) throw new Error(`${tokens.length} tokens, ${rows.dims[0]} rows`);
  return tokens.map((token, k) => ({
    token,
    vectors: Float32Array.from((rows.data as Float32Array).subarray(k * dim, (k + 1) * dim)),
    count: 1,
    dim,
  }));
}

/**
 * The diffusers `learned_embeds.safetensors` state dict: one tensor [vectors, dim] per placeholder token,
 * named by the token (what `save_progress` of `textual_inversion.py` writes and `load_textual_inversion`
 * reads).
 */
export function textualInversionStateDict(concepts: readonly TextualInversion[]): Map<string, Tensor> {
  return new Map(
    concepts.map((c) => [
      c.token,
      { dtype: DataType.FLOAT, dims: [c.count, c.dim], data: Float32Array.from(c.vectors) },
    ]),
  );
}
