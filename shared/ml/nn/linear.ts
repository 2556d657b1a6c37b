import type { GraphBuilder } from "../graph/builder.js";
import { uniform, xavierUniform, zeros } from "./init.js";

export interface LinearOptions {
  inFeatures: number;
  outFeatures: number;
  /** Add a bias (default true). */
  bias?: boolean;
}

/**
 * y = x·W + b over the last axis, W stored as [in, out] (`weight`) so no transpose runs at inference.
 * Parameters `${name}.weight`, `${name}.bias`; PyTorch-style uniform init (bound 1/√in).
 */
export function linear(b: GraphBuilder, name: string, x: string, o: LinearOptions): string {
  return b.scope(name, () => {
    const w = b.param(
      "weight",
      uniform(b.rng, b.dtype, [o.inFeatures, o.outFeatures], 1 / Math.sqrt(o.inFeatures)),
    );
    const y = b.op("MatMul", [x, w]);
    if (o.bias === false) return y;
    return b.op("Add", [y, b.param("bias", zeros(b.dtype, [o.outFeatures]))]);
  });
}

/** Rows of a [num, dim] table (`${name}.weight`) looked up by integer ids: [..., dim]. */
export function embedding(b: GraphBuilder, name: string, ids: string, num: number, dim: number): string {
  return b.scope(name, () => {
    const table = b.param("weight", xavierUniform(b.rng, b.dtype, [num, dim], num, dim));
    return b.op("Gather", [table, ids], { axis: 0 });
  });
}
