import type { GraphBuilder } from "../graph/builder.js";
import { gelu } from "./activation.js";
import { linear } from "./linear.js";
import { layerNorm } from "./norm.js";

export interface AttentionOptions {
  /** Model width of x (and of the output). */
  dim: number;
  heads: number;
  /** Width of the context sequence for cross-attention (default: self-attention on x). */
  contextDim?: number;
}

/**
 * Multi-head attention in the diffusers layout: q from x [B, T, dim], k and v from `context` [B, S, ctx]
 * (or x itself), softmax(q·kᵀ/√d)·v per head, then `to_out.0`. Projections `to_q`, `to_k`, `to_v` have no
 * bias, so they are plain MatMuls that LoRA can target.
 */
export function attention(
  b: GraphBuilder,
  name: string,
  x: string,
  context: string | undefined,
  o: AttentionOptions,
): string {
  const headDim = o.dim / o.heads;
  if (!Number.isInteger(headDim))
    throw new Error(`attention ${name}: dim ${o.dim} not divisible by ${o.heads} heads`);
  return b.scope(name, () => {
    const source = context ?? x;
    const sourceDim = context ? (o.contextDim ?? o.dim) : o.dim;
    const q = linear(b, "to_q", x, { inFeatures: o.dim, outFeatures: o.dim, bias: false });
    const k = linear(b, "to_k", source, { inFeatures: sourceDim, outFeatures: o.dim, bias: false });
    const v = linear(b, "to_v", source, { inFeatures: sourceDim, outFeatures: o.dim, bias: false });
    const split = b.ints([0, 0, o.heads, headDim]);
    // Fold 1/√d into q (smaller than the score matrix).
    const qh = b.op(
      "Transpose",
      [b.op("Reshape", [b.op("Mul", [q, b.scalar(1 / Math.sqrt(headDim))]), split])],
      {
        perm: [0, 2, 1, 3],
      },
    );
    const kt = b.op("Transpose", [b.op("Reshape", [k, split])], { perm: [0, 2, 3, 1] });
    const vh = b.op("Transpose", [b.op("Reshape", [v, split])], { perm: [0, 2, 1, 3] });
    const weights = b.op("Softmax", [b.op("MatMul", [qh, kt])], { axis: -1 });
    const mixed = b.op("Transpose", [b.op("MatMul", [weights, vh])], { perm: [0, 2, 1, 3] });
    const merged = b.op("Reshape", [mixed, b.ints([0, 0, o.dim])]);
    return b.scope("to_out", () => linear(b, "0", merged, { inFeatures: o.dim, outFeatures: o.dim }));
  });
}

export interface TransformerBlockOptions {
  dim: number;
  heads: number;
  /** Cross-attention to a context sequence of this width (omit for self-attention only). */
  contextDim?: number;
  /** Feed-forward hidden width = dim · ffMult (default 4). */
  ffMult?: number;
}

/**
 * Pre-norm transformer block on [B, T, dim]: self-attention (`attn1`), optional cross-attention (`attn2`),
 * GELU feed-forward (`ff.net.0`, `ff.net.2`), each with a residual.
 */
export function transformerBlock(
  b: GraphBuilder,
  name: string,
  x: string,
  context: string | undefined,
  o: TransformerBlockOptions,
): string {
  return b.scope(name, () => {
    let h = b.op("Add", [x, attention(b, "attn1", layerNorm(b, "norm1", x, o.dim), undefined, o)]);
    if (context && o.contextDim) {
      h = b.op("Add", [h, attention(b, "attn2", layerNorm(b, "norm2", h, o.dim), context, o)]);
    }
    const hidden = o.dim * (o.ffMult ?? 4);
    const ff = b.scope("ff", () =>
      b.scope("net", () => {
        const up = gelu(
          b,
          linear(b, "0", layerNorm(b, "norm", h, o.dim), { inFeatures: o.dim, outFeatures: hidden }),
        );
        return linear(b, "2", up, { inFeatures: hidden, outFeatures: o.dim });
      }),
    );
    return b.op("Add", [h, ff]);
  });
}
