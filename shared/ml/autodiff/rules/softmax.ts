import { attrInt } from "../../graph/ir.js";
import type { GradRule } from "../context.js";

/** softmax: dX = Y ⊙ (G − Σ_axis G⊙Y) */
const Softmax: GradRule = ({ node, dy: [g], needs, b }) => {
  if (!needs[0]) return [];
  const y = node.outputs[0];
  const axis = attrInt(node, "axis", -1);
  const dot = b.op("ReduceSum", [b.op("Mul", [g!, y]), b.ints([axis])], { keepdims: 1 });
  return [b.op("Mul", [y, b.op("Sub", [g!, dot])])];
};

/** log-softmax: dX = G − exp(Y) ⊙ Σ_axis G */
const LogSoftmax: GradRule = ({ node, dy: [g], needs, b }) => {
  if (!needs[0]) return [];
  const y = node.outputs[0];
  const axis = attrInt(node, "axis", -1);
  const total = b.op("ReduceSum", [g!, b.ints([axis])], { keepdims: 1 });
  return [b.op("Sub", [g!, b.op("Mul", [b.op("Exp", [y]), total])])];
};

export const softmaxRules: Record<string, GradRule> = { Softmax, LogSoftmax };
