import { attrInt, attrInts } from "../../graph/ir.js";
import type { GradContext, GradRule } from "../context.js";

/** The reduced axes (normalized), or undefined for "all axes". */
function reducedAxes(c: GradContext): number[] | undefined {
  const { node } = c;
  const rank = c.shape(node.inputs[0]).length;
  let axes: number[] | undefined;
  if (node.inputs[1]) axes = c.ints(node.inputs[1]) ?? c.fail("axes must be constant");
  else axes = attrInts(node, "axes");
  if (!axes || axes.length === 0) {
    if (attrInt(node, "noop_with_empty_axes", 0) === 1) return [];
    return undefined;
  }
  return axes.map((a) => (a < 0 ? a + rank : a));
}

/** G broadcast back over the reduced axes (re-inserting them first when keepdims=0). */
function spread(c: GradContext): string {
  const { node, b } = c;
  const x = node.inputs[0];
  let g = c.dy[0]!;
  const axes = reducedAxes(c);
  if (axes && axes.length === 0) return g;
  if (attrInt(node, "keepdims", 1) === 0 && axes) g = b.op("Unsqueeze", [g, b.ints(axes)]);
  return b.op("Expand", [g, c.shapeOf(x)]);
}

/** d sum = G spread over the reduced axes */
const ReduceSum: GradRule = (c) => [c.needs[0] ? spread(c) : undefined];

/** d mean = G spread over the reduced axes / count */
const ReduceMean: GradRule = (c) => {
  if (!c.needs[0]) return [];
  const axes = reducedAxes(c);
  if (axes && axes.length === 0) return [c.dy[0]];
  return [c.b.op("Div", [spread(c), c.countRatio(c.node.inputs[0], c.node.outputs[0])])];
};

/** d sum(x²) = 2x · G spread */
const ReduceSumSquare: GradRule = (c) => {
  if (!c.needs[0]) return [];
  const x = c.node.inputs[0];
  return [c.b.op("Mul", [spread(c), c.b.op("Mul", [x, c.scalar(2, x)])])];
};

export const reduceRules: Record<string, GradRule> = { ReduceSum, ReduceMean, ReduceSumSquare };
