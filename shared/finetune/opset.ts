import { type Graph, GraphBuilder } from "../ml/graph/index.js";

/** Ops whose `axes` moved from an attribute to an input at opset 18 (ReduceSum moved at 13). */
const REDUCE_AXES_AT_18 = new Set([
  "ReduceMean",
  "ReduceMax",
  "ReduceMin",
  "ReduceProd",
  "ReduceL1",
  "ReduceL2",
  "ReduceLogSum",
  "ReduceLogSumExp",
  "ReduceSumSquare",
]);

/** Opset the engine's gradient rules write (axes as inputs everywhere). */
export const TRAINING_OPSET = 18;

/**
 * Raises a graph's default-domain opset to `target` (≥ 13), rewriting the one change between 13 and 21
 * that exports hit: `axes` of the Reduce ops becomes an input at 18. Exports older than opset 13 (Squeeze,
 * Unsqueeze, Split and ReduceSum axes as attributes) and GroupNormalization crossing opset 21 (whose scale
 * changed from per-group to per-channel) are refused. The engine's backward rules emit opset-18 forms, so
 * a training graph needs at least that.
 */
export function upgradeOpset(graph: Graph, target: number): void {
  const current = graph.opsets.get("") ?? graph.opsets.get("ai.onnx") ?? 1;
  if (current >= target) return;
  if (current < 13) throw new Error(`opset ${current} exports are not supported (need ≥ 13)`);
  const b = new GraphBuilder({ graph });
  for (const node of graph.nodes) {
    if (node.domain !== "" && node.domain !== "ai.onnx") continue;
    if (node.op === "GroupNormalization" && current < 21 && target >= 21)
      throw new Error("GroupNormalization before opset 21 cannot be upgraded past it");
    if (current < 18 && target >= 18 && REDUCE_AXES_AT_18.has(node.op)) {
      const axes = node.attrs.axes;
      if (axes?.kind === "ints") {
        node.inputs = [node.inputs[0], b.ints(axes.value.map(Number))];
        delete node.attrs.axes;
      }
    }
  }
  graph.opsets.delete("ai.onnx");
  graph.opsets.set("", target);
}
