import type { GraphBuilder } from "../graph/builder.js";

/** max(x, 0) */
export function relu(b: GraphBuilder, x: string): string {
  return b.op("Relu", [x]);
}

/** x·σ(x) (swish) */
export function silu(b: GraphBuilder, x: string): string {
  return b.op("Mul", [x, b.op("Sigmoid", [x])]);
}

/** Exact GELU, x·Φ(x), built from Erf (differentiable and with float32 kernels everywhere). */
export function gelu(b: GraphBuilder, x: string): string {
  const cdf = b.op("Add", [b.op("Erf", [b.op("Mul", [x, b.scalar(Math.SQRT1_2)])]), b.scalar(1)]);
  return b.op("Mul", [b.op("Mul", [x, cdf]), b.scalar(0.5)]);
}
