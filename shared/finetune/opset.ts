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

/** Opset of the engine's own graphs, which its gradient rules assume (axes as inputs everywhere). */
export const TRAINING_OPSET = 21;

/**
 * Raises a graph's default-domain opset to `target` (≥ 13), rewriting what changed meaning between 13 and 21
 * for the ops exports use: `axes` of the Reduce ops becomes an input at 18, and a Split without sizes needs
 * `num_outputs` from 18. Exports older than opset 13 (Squeeze, Unsqueeze, Split and ReduceSum axes as
 * attributes), GroupNormalization crossing opset 21 (its scale changed from per-group to per-channel) and
 * subgraphs (If, Loop) are refused. The engine's backward rules emit opset-21 forms.
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
    if (Object.values(node.attrs).some((a) => a.kind === "graph"))
      throw new Error(`node ${node.name} (${node.op}) has a subgraph, which training graphs do not support`);
    if (current < 18 && target >= 18 && node.op === "Split" && !node.inputs[1] && !node.attrs.num_outputs)
      node.attrs.num_outputs = { kind: "int", value: node.outputs.length };
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
