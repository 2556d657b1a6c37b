import { attrFloat, attrString } from "../../graph/ir.js";
import type { GradRule } from "../context.js";

// Elementwise functions y = f(x): dx = g · f'(x), written with whichever of x, y is cheaper.

const unary =
  (dx: (c: Parameters<GradRule>[0], g: string, x: string, y: string) => string): GradRule =>
  (c) => [c.needs[0] ? dx(c, c.dy[0]!, c.node.inputs[0], c.node.outputs[0]) : undefined];

const Identity = unary((_c, g) => g);
const Neg = unary(({ b }, g) => b.op("Neg", [g]));
/** relu'(x) = [y > 0] */
const Relu = unary(({ b, scalar }, g, _x, y) =>
  b.op("Where", [b.op("Greater", [y, scalar(0, y)]), g, scalar(0, y)]),
);
/** exp' = y */
const Exp = unary(({ b }, g, _x, y) => b.op("Mul", [g, y]));
/** log' = 1/x */
const Log = unary(({ b }, g, x) => b.op("Div", [g, x]));
/** sqrt' = 1/(2y) */
const Sqrt = unary(({ b, scalar }, g, _x, y) => b.op("Div", [b.op("Mul", [g, scalar(0.5, y)]), y]));
/** σ' = y(1-y) */
const Sigmoid = unary(({ b, scalar }, g, _x, y) =>
  b.op("Mul", [g, b.op("Mul", [y, b.op("Sub", [scalar(1, y), y])])]),
);
/** tanh' = 1 - y² */
const Tanh = unary(({ b, scalar }, g, _x, y) =>
  b.op("Mul", [g, b.op("Sub", [scalar(1, y), b.op("Mul", [y, y])])]),
);
/** erf' = 2/√π · exp(-x²) */
const Erf = unary(({ b, scalar }, g, x) => {
  const gauss = b.op("Exp", [b.op("Neg", [b.op("Mul", [x, x])])]);
  return b.op("Mul", [g, b.op("Mul", [gauss, scalar(2 / Math.sqrt(Math.PI), x)])]);
});
/** sin' = cos */
const Sin = unary(({ b }, g, x) => b.op("Mul", [g, b.op("Cos", [x])]));
/** cos' = -sin */
const Cos = unary(({ b }, g, x) => b.op("Neg", [b.op("Mul", [g, b.op("Sin", [x])])]));
/** |x|' = sign(x) */
const Abs = unary(({ b }, g, x) => b.op("Mul", [g, b.op("Sign", [x])]));
/** (1/x)' = -y² */
const Reciprocal = unary(({ b }, g, _x, y) => b.op("Neg", [b.op("Mul", [g, b.op("Mul", [y, y])])]));
/** softplus' = σ(x) */
const Softplus = unary(({ b }, g, x) => b.op("Mul", [g, b.op("Sigmoid", [x])]));
/** leaky_relu' = 1 if x > 0 else α */
const LeakyRelu = unary(({ b, scalar, node }, g, x) => {
  const alpha = scalar(attrFloat(node, "alpha", 0.01), x);
  return b.op("Where", [b.op("Greater", [x, scalar(0, x)]), g, b.op("Mul", [g, alpha])]);
});
/**
 * gelu'(x) = Φ(x) + x·φ(x) for the exact form; for approximate="tanh", with t = tanh(√(2/π)(x + 0.044715x³)):
 * ½(1 + t) + ½x(1 − t²)·√(2/π)(1 + 3·0.044715x²).
 */
const Gelu = unary(({ b, scalar, node }, g, x) => {
  if (attrString(node, "approximate", "none") === "tanh") {
    const k = Math.sqrt(2 / Math.PI);
    const x2 = b.op("Mul", [x, x]);
    const inner = b.op("Mul", [
      b.op("Add", [x, b.op("Mul", [b.op("Mul", [x2, x]), scalar(0.044715, x)])]),
      scalar(k, x),
    ]);
    const t = b.op("Tanh", [inner]);
    const du = b.op("Mul", [
      b.op("Add", [scalar(1, x), b.op("Mul", [x2, scalar(3 * 0.044715, x)])]),
      scalar(k, x),
    ]);
    const sech2 = b.op("Sub", [scalar(1, x), b.op("Mul", [t, t])]);
    const half = b.op("Mul", [b.op("Add", [scalar(1, x), t]), scalar(0.5, x)]);
    const rest = b.op("Mul", [b.op("Mul", [b.op("Mul", [x, sech2]), du]), scalar(0.5, x)]);
    return b.op("Mul", [g, b.op("Add", [half, rest])]);
  }
  const cdf = b.op("Mul", [
    scalar(0.5, x),
    b.op("Add", [scalar(1, x), b.op("Erf", [b.op("Mul", [x, scalar(Math.SQRT1_2, x)])])]),
  ]);
  const pdf = b.op("Mul", [
    b.op("Exp", [b.op("Mul", [b.op("Mul", [x, x]), scalar(-0.5, x)])]),
    scalar(1 / Math.sqrt(2 * Math.PI), x),
  ]);
  return b.op("Mul", [g, b.op("Add", [cdf, b.op("Mul", [x, pdf])])]);
});

/** Cast: cast the gradient back to the input's float type. */
const Cast: GradRule = ({ node, dy: [g], needs, b, type }) => [
  needs[0] ? b.op("Cast", [g!], { to: type(node.inputs[0]).dtype }) : undefined,
];

/** clip'(x) = [min ≤ x ≤ max]; no gradient to the bounds. */
const Clip: GradRule = ({ node, dy: [g], needs, b, scalar }) => {
  const [x, lo, hi] = node.inputs;
  if (!needs[0]) return [];
  let mask: string | undefined;
  if (lo) mask = b.op("GreaterOrEqual", [x, lo]);
  if (hi) {
    const upper = b.op("LessOrEqual", [x, hi]);
    mask = mask ? b.op("And", [mask, upper]) : upper;
  }
  return [mask ? b.op("Where", [mask, g!, scalar(0, x)]) : g];
};

/** Dropout in inference mode (no training_mode input or false) is the identity. */
const Dropout: GradRule = ({ node, dy: [g], needs, fail }) => {
  if (node.inputs[2]) fail("dropout with a training_mode input is not differentiable here");
  return [needs[0] ? g : undefined];
};

export const unaryRules: Record<string, GradRule> = {
  Identity,
  Neg,
  Relu,
  Exp,
  Log,
  Sqrt,
  Sigmoid,
  Tanh,
  Erf,
  Sin,
  Cos,
  Abs,
  Reciprocal,
  Softplus,
  LeakyRelu,
  Gelu,
  Cast,
  Clip,
  Dropout,
};
