import { attrFloat, attrInt } from "../../graph/ir.js";
import type { GradContext, GradRule } from "../context.js";

/** Swaps the last two axes of a rank-`rank` value. */
function swapLast(c: GradContext, x: string, rank: number): string {
  const perm = Array.from({ length: rank }, (_, i) => i);
  perm[rank - 2] = rank - 1;
  perm[rank - 1] = rank - 2;
  return c.b.op("Transpose", [x], { perm });
}

/**
 * Y = A·B over the last two axes with broadcast batch axes: dA = G·Bᵀ, dB = Aᵀ·G, each unbroadcast.
 * A shared 2-D weight (B of rank 2, A batched) gets its gradient from one Gemm over the flattened batch.
 */
const MatMul: GradRule = (c) => {
  const { node, needs, b, shape } = c;
  const g = c.dy[0]!;
  const [a, w] = node.inputs;
  const y = node.outputs[0];
  const ra = shape(a).length;
  const rw = shape(w).length;
  if (ra < 2 || rw < 2) c.fail("1-D MatMul operands are not supported");
  let ga: string | undefined;
  let gw: string | undefined;
  if (needs[0]) ga = c.unbroadcast(b.op("MatMul", [g, swapLast(c, w, rw)]), a, y);
  if (needs[1]) {
    const [k, n] = shape(w).slice(-2);
    if (rw === 2 && ra > 2 && typeof k === "number" && typeof n === "number") {
      const a2 = b.op("Reshape", [a, b.ints([-1, k])]);
      const g2 = b.op("Reshape", [g, b.ints([-1, n])]);
      gw = b.op("Gemm", [a2, g2], { transA: 1 });
    } else {
      gw = c.unbroadcast(b.op("MatMul", [swapLast(c, a, ra), g]), w, y);
    }
  }
  return [ga, gw];
};

/**
 * Y = α·op(A)·op(B) + β·C with op = transpose when transA/transB. Gradients are Gemms with the transposes
 * rearranged so nothing is transposed explicitly.
 */
const Gemm: GradRule = (c) => {
  const { node, needs, b } = c;
  const g = c.dy[0]!;
  const [a, w, bias] = node.inputs;
  const transA = attrInt(node, "transA", 0);
  const transB = attrInt(node, "transB", 0);
  const alpha = attrFloat(node, "alpha", 1);
  const beta = attrFloat(node, "beta", 1);
  let ga: string | undefined;
  let gw: string | undefined;
  let gc: string | undefined;
  if (needs[0]) {
    // dop(A) = α·G·op(B)ᵀ; dA = dop(A) or its transpose.
    ga = transA
      ? b.op("Gemm", [w, g], { alpha, transA: transB, transB: 1 })
      : b.op("Gemm", [g, w], { alpha, transB: transB ? 0 : 1 });
  }
  if (needs[1]) {
    // dop(B) = α·op(A)ᵀ·G; dB = dop(B) or its transpose.
    gw = transB
      ? b.op("Gemm", [g, a], { alpha, transA: 1, transB: transA })
      : b.op("Gemm", [a, g], { alpha, transA: transA ? 0 : 1 });
  }
  if (needs[2] && bias) {
    const scaled = beta === 1 ? g : b.op("Mul", [g, c.scalar(beta, bias)]);
    gc = c.unbroadcast(scaled, bias, node.outputs[0]);
  }
  return [ga, gw, gc];
};

export const matmulRules: Record<string, GradRule> = { MatMul, Gemm };
