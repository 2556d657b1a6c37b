import type { GradRule } from "../context.js";
import { convRules } from "./conv.js";
import { elementwiseRules } from "./elementwise.js";
import { matmulRules } from "./matmul.js";
import { normRules } from "./norm.js";
import { poolRules } from "./pool.js";
import { reduceRules } from "./reduce.js";
import { shapeRules } from "./shape.js";
import { softmaxRules } from "./softmax.js";
import { unaryRules } from "./unary.js";

/** The gradient rule of every differentiable op, by op type (default ONNX domain). */
export const gradRules: Readonly<Record<string, GradRule>> = Object.freeze({
  ...elementwiseRules,
  ...unaryRules,
  ...matmulRules,
  ...convRules,
  ...poolRules,
  ...reduceRules,
  ...shapeRules,
  ...softmaxRules,
  ...normRules,
});

/**
 * Ops whose outputs carry no gradient (integer results, comparisons, piecewise-constant functions):
 * backpropagation stops at them.
 */
export const nonDifferentiable: ReadonlySet<string> = new Set([
  "Shape",
  "Size",
  "ConstantOfShape",
  "Constant",
  "Range",
  "Equal",
  "Less",
  "Greater",
  "LessOrEqual",
  "GreaterOrEqual",
  "And",
  "Or",
  "Not",
  "Xor",
  "IsNaN",
  "IsInf",
  "ArgMax",
  "ArgMin",
  "Floor",
  "Ceil",
  "Round",
  "Sign",
  "NonZero",
  "RandomNormal",
  "RandomNormalLike",
  "RandomUniform",
  "RandomUniformLike",
  "Multinomial",
  "OneHot",
]);
