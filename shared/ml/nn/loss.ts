import type { GraphBuilder } from "../graph/builder.js";

export interface CrossEntropyOptions {
  /** Number of classes (needed for label smoothing). */
  classes: number;
  /** Mix ε of the uniform distribution into the targets (default 0). */
  labelSmoothing?: number;
}

/**
 * Mean over the batch of −Σ_k t_k · log softmax(logits)_k, with soft targets [B, K] (one-hot, mixed or
 * strength-weighted labels) and optional label smoothing t ← (1−ε)t + ε/K.
 */
export function softmaxCrossEntropy(
  b: GraphBuilder,
  logits: string,
  targets: string,
  o: CrossEntropyOptions,
): string {
  const eps = o.labelSmoothing ?? 0;
  let t = targets;
  if (eps > 0) t = b.op("Add", [b.op("Mul", [targets, b.scalar(1 - eps)]), b.scalar(eps / o.classes)]);
  const logp = b.op("LogSoftmax", [logits], { axis: -1 });
  const perSample = b.op("ReduceSum", [b.op("Mul", [t, logp]), b.ints([-1])], { keepdims: 0 });
  return b.op("Neg", [b.op("ReduceMean", [perSample], { keepdims: 0 })]);
}

/** Mean squared error over all elements. */
export function mse(b: GraphBuilder, prediction: string, target: string): string {
  const diff = b.op("Sub", [prediction, target]);
  return b.op("ReduceMean", [b.op("Mul", [diff, diff])], { keepdims: 0 });
}
