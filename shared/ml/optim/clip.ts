import type { GraphBuilder } from "../graph/builder.js";

/**
 * Global-norm clipping: with n = √Σ‖gᵢ‖², every gradient is scaled by min(1, maxNorm/(n + 1e-6)).
 * Returns the scaled gradients and n (before clipping).
 */
export function clipByGlobalNorm(
  b: GraphBuilder,
  grads: string[],
  maxNorm: number,
): { grads: string[]; norm: string } {
  const squares = grads.map((g) => b.op("ReduceSumSquare", [g], { keepdims: 0 }));
  const total = squares.length === 1 ? squares[0] : b.op("Sum", squares);
  const norm = b.op("Sqrt", [total]);
  const factor = b.op("Min", [
    b.scalar(1),
    b.op("Div", [b.scalar(maxNorm), b.op("Add", [norm, b.scalar(1e-6)])]),
  ]);
  return { grads: grads.map((g) => b.op("Mul", [g, factor])), norm };
}

/** √Σ‖gᵢ‖² without clipping (for logging). */
export function globalNorm(b: GraphBuilder, grads: string[]): string {
  const squares = grads.map((g) => b.op("ReduceSumSquare", [g], { keepdims: 0 }));
  return b.op("Sqrt", [squares.length === 1 ? squares[0] : b.op("Sum", squares)]);
}
