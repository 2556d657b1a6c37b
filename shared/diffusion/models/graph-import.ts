import type { GraphBuilder } from "../../ml/graph/builder.js";
import type { Attribute, Node } from "../../ml/graph/ir.js";
import { fromModel } from "../../ml/graph/model.js";
import type { ModelProto } from "../../ml/onnx/index.js";

/** Reductions whose `axes` moved from an attribute to an input in opset 18. */
const REDUCE_AXES_18 = new Set([
  "ReduceMean",
  "ReduceMax",
  "ReduceMin",
  "ReduceProd",
  "ReduceSumSquare",
  "ReduceL1",
  "ReduceL2",
  "ReduceLogSum",
  "ReduceLogSumExp",
]);

/**
 * Rewrites a node of a default-domain opset-`from` graph (13 ≤ from) so it means the same at opset 21, the
 * engine's: reductions take `axes` as an input (opset 18), Split without sizes gets `num_outputs` (opset 18).
 * GroupNormalization changed meaning at 21 and is refused below it.
 */
function upgradeNode(b: GraphBuilder, node: Node, from: number): Node {
  if (from >= 21 || node.domain !== "") return node;
  if (node.op === "GroupNormalization") {
    throw new Error(`GroupNormalization from opset ${from} has other semantics than at opset 21`);
  }
  if (from < 18 && REDUCE_AXES_18.has(node.op) && node.attrs.axes) {
    const axes = node.attrs.axes as Extract<Attribute, { kind: "ints" }>;
    const { axes: _, ...attrs } = node.attrs;
    return { ...node, inputs: [node.inputs[0], b.ints(axes.value.map(Number))], attrs };
  }
  if (from < 18 && node.op === "Split" && !node.inputs[1] && !node.attrs.num_outputs) {
    return {
      ...node,
      inputs: [node.inputs[0]],
      attrs: { ...node.attrs, num_outputs: { kind: "int", value: node.outputs.length } },
    };
  }
  return node;
}

/**
 * Copies a decoded ONNX model into the graph being built (to chain a VAE decoder and an image encoder into one
 * differentiable scoring graph): every value, initializer and node is renamed under `prefix`, the model's
 * inputs are bound to existing values, and nodes are upgraded to opset 21 (see {@link upgradeNode}). Returns
 * the new names of the model's outputs. Models below opset 13 or with subgraphs (If, Loop) are refused.
 */
export function importGraph(
  b: GraphBuilder,
  model: ModelProto,
  bindings: Readonly<Record<string, string>>,
  prefix: string,
): Record<string, string> {
  const source = fromModel(model);
  const opset = source.opsets.get("") ?? 21;
  if (opset < 13) throw new Error(`${prefix}: opset ${opset} is too old (13 or newer is needed)`);
  for (const [domain, version] of source.opsets) {
    if (domain !== "" && !b.graph.opsets.has(domain)) b.graph.opsets.set(domain, version);
  }
  const names = new Map<string, string>();
  for (const input of source.inputs) {
    const bound = bindings[input.name];
    if (bound === undefined) throw new Error(`${prefix}: input ${input.name} is not bound`);
    names.set(input.name, bound);
  }
  const rename = (name: string) => {
    if (name === "") return "";
    let out = names.get(name);
    if (!out) {
      out = `${prefix}/${name}`;
      names.set(name, out);
      b.graph.reserve(out);
    }
    return out;
  };
  for (const [name, tensor] of source.initializers) b.graph.addInitializer(rename(name), tensor);
  for (const node of source.nodes) {
    if (Object.values(node.attrs).some((a) => a.kind === "graph")) {
      throw new Error(`${prefix}: node ${node.name} (${node.op}) has a subgraph, which is not supported`);
    }
    const copied: Node = {
      ...node,
      inputs: node.inputs.map(rename),
      outputs: node.outputs.map(rename),
      name: `${prefix}/${node.name || node.op}`,
      attrs: { ...node.attrs },
    };
    b.graph.addNode(upgradeNode(b, copied, opset));
  }
  return Object.fromEntries(source.outputs.map((o) => [o.name, rename(o.name)]));
}
