import { GraphBuilder } from "../graph/builder.js";
import { attrInt, attrInts, type Graph, type Node } from "../graph/ir.js";
import { insertAfter } from "../graph/rewrite.js";
import { normal, zeros } from "./init.js";

export interface LoraOptions {
  /** Rank r of the update. */
  rank: number;
  /** Scale = alpha / rank (default alpha = rank, scale 1). */
  alpha?: number;
  /** Which frozen weights get an adapter, by parameter name (e.g. /attn\d\.to_[qkv]\.weight$/). */
  target: (weightName: string) => boolean;
  /** Seed for A's gaussian init. */
  seed?: number;
}

/** One adapter added to a projection: y = x·W + scale·(x·A)·B. */
export interface LoraAdapter {
  /** The frozen weight this adapter modifies. */
  base: string;
  /** A: [in, r] (or [r, in, 1, 1] for a 1×1 conv), gaussian with std 1/r. */
  down: string;
  /** B: [r, out] (or [out, r, 1, 1]), zeros, so the adapted model starts equal to the base. */
  up: string;
  scale: number;
}

function moduleOf(weight: string): string {
  return weight.endsWith(".weight") ? weight.slice(0, -".weight".length) : weight;
}

/**
 * Adds LoRA adapters to every MatMul (x·W), Gemm (x·W or x·Wᵀ) and 1×1 Conv whose weight is a parameter
 * selected by `target`. Parameters are named `${module}.lora_A.weight` and `${module}.lora_B.weight` (PEFT
 * names; layouts are those of the host op: [in, r] and [r, out] for MatMul). Works on built and imported
 * graphs alike. Returns the adapters; train their `down` and `up` parameters.
 */
export function addLora(graph: Graph, o: LoraOptions): LoraAdapter[] {
  const scale = (o.alpha ?? o.rank) / o.rank;
  const adapters: LoraAdapter[] = [];
  for (const node of [...graph.nodes]) {
    const w = node.inputs[1];
    if (!w || !graph.params.has(w) || !o.target(w)) continue;
    const t = graph.initializers.get(w);
    if (!t) continue;
    const b = new GraphBuilder({ graph, dtype: t.dtype, seed: (o.seed ?? 0) + adapters.length });
    const module = moduleOf(w);
    const r = o.rank;
    const out = node.outputs[0];
    let adapter: LoraAdapter | undefined;
    const emitAdd = (delta: string, original: string) => {
      const scaled = scale === 1 ? delta : b.op("Mul", [delta, b.scalar(scale)]);
      b.op("Add", [original, scaled], {}, { outputs: [out] });
    };
    // The original op now writes to a new name; the sum takes over its output name.
    const rename = (n: Node) => {
      const original = graph.fresh(`${out}/base`);
      n.outputs[0] = original;
      return original;
    };
    if (node.op === "MatMul" && t.dims.length === 2) {
      const [fin, fout] = t.dims;
      insertAfter(graph, node, () => {
        const down = b.param(`${module}.lora_A.weight`, normal(b.rng, t.dtype, [fin, r], 1 / r));
        const up = b.param(`${module}.lora_B.weight`, zeros(t.dtype, [r, fout]));
        const original = rename(node);
        emitAdd(b.op("MatMul", [b.op("MatMul", [node.inputs[0], down]), up]), original);
        adapter = { base: w, down, up, scale };
      });
    } else if (node.op === "Gemm" && t.dims.length === 2 && attrInt(node, "transA", 0) === 0) {
      const transB = attrInt(node, "transB", 0) === 1;
      const [fin, fout] = transB ? [t.dims[1], t.dims[0]] : t.dims;
      insertAfter(graph, node, () => {
        const down = b.param(`${module}.lora_A.weight`, normal(b.rng, t.dtype, [fin, r], 1 / r));
        const up = b.param(`${module}.lora_B.weight`, zeros(t.dtype, [r, fout]));
        const original = rename(node);
        const alpha = node.attrs.alpha?.kind === "float" ? node.attrs.alpha.value : 1;
        const delta = b.op("Gemm", [b.op("MatMul", [node.inputs[0], down]), up], { alpha });
        emitAdd(delta, original);
        adapter = { base: w, down, up, scale };
      });
    } else if (node.op === "Conv" && t.dims.length === 4 && t.dims[2] === 1 && t.dims[3] === 1) {
      if (attrInt(node, "group", 1) !== 1 || (attrInts(node, "strides") ?? [1, 1]).some((s) => s !== 1))
        continue;
      const [fout, fin] = t.dims;
      insertAfter(graph, node, () => {
        const down = b.param(`${module}.lora_A.weight`, normal(b.rng, t.dtype, [r, fin, 1, 1], 1 / r));
        const up = b.param(`${module}.lora_B.weight`, zeros(t.dtype, [fout, r, 1, 1]));
        const original = rename(node);
        const pads = attrInts(node, "pads");
        const delta = b.op("Conv", [b.op("Conv", [node.inputs[0], down], pads ? { pads } : {}), up]);
        emitAdd(delta, original);
        adapter = { base: w, down, up, scale };
      });
    }
    if (adapter) adapters.push(adapter);
  }
  return adapters;
}
