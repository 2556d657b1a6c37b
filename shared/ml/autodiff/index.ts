/** Reverse-mode automatic differentiation of ONNX graphs: one gradient rule per op, appended in-graph. */
export type { GradContext, GradRule } from "./context.js";
export { appendGradients, type GradientOptions, type GradientResult, type WrtSpec } from "./gradient.js";
export { restrictRows, rowsParamName } from "./rows.js";
export { gradRules, nonDifferentiable } from "./rules/index.js";
