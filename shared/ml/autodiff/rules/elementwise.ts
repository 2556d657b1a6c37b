import type { GradRule } from "../context.js";

// Broadcasting binary ops: each gradient is computed at the output's shape, then unbroadcast once.

/** d(a+b) = (g, g) */
const Add: GradRule = ({ node, dy: [g], needs, unbroadcast }) => {
  const [a, b] = node.inputs;
  const y = node.outputs[0];
  return [needs[0] ? unbroadcast(g!, a, y) : undefined, needs[1] ? unbroadcast(g!, b, y) : undefined];
};

/** d(a-b) = (g, -g) */
const Sub: GradRule = ({ node, dy: [g], needs, unbroadcast, b: e }) => {
  const [a, b] = node.inputs;
  const y = node.outputs[0];
  return [
    needs[0] ? unbroadcast(g!, a, y) : undefined,
    needs[1] ? unbroadcast(e.op("Neg", [g!]), b, y) : undefined,
  ];
};

/** d(a·b) = (g·b, g·a) */
const Mul: GradRule = ({ node, dy: [g], needs, unbroadcast, b: e }) => {
  const [a, b] = node.inputs;
  const y = node.outputs[0];
  return [
    needs[0] ? unbroadcast(e.op("Mul", [g!, b]), a, y) : undefined,
    needs[1] ? unbroadcast(e.op("Mul", [g!, a]), b, y) : undefined,
  ];
};

/** d(a/b) = (g/b, -g·y/b) */
const Div: GradRule = ({ node, dy: [g], needs, unbroadcast, b: e }) => {
  const [a, b] = node.inputs;
  const y = node.outputs[0];
  const gOverB = e.op("Div", [g!, b]);
  return [
    needs[0] ? unbroadcast(gOverB, a, y) : undefined,
    needs[1] ? unbroadcast(e.op("Neg", [e.op("Mul", [gOverB, y])]), b, y) : undefined,
  ];
};

/** d(a^b) = (g·b·a^(b-1), g·y·ln a) */
const Pow: GradRule = ({ node, dy: [g], needs, unbroadcast, b: e, scalar, type }) => {
  const [a, b] = node.inputs;
  const y = node.outputs[0];
  // The exponent may have another element type than the base.
  const bLike = type(b).dtype === type(a).dtype ? b : e.op("CastLike", [b, a]);
  let ga: string | undefined;
  if (needs[0]) {
    const lower = e.op("Pow", [a, e.op("Sub", [bLike, scalar(1, a)])]);
    ga = unbroadcast(e.op("Mul", [e.op("Mul", [g!, bLike]), lower]), a, y);
  }
  const gb = needs[1] ? unbroadcast(e.op("Mul", [e.op("Mul", [g!, y]), e.op("Log", [a])]), b, y) : undefined;
  return [ga, gb];
};

/** d where(c, x, z) = (–, g where c, g where not c) */
const Where: GradRule = ({ node, dy: [g], needs, unbroadcast, b: e, scalar }) => {
  const [cond, x, z] = node.inputs;
  const y = node.outputs[0];
  const zero = scalar(0, y);
  return [
    undefined,
    needs[1] ? unbroadcast(e.op("Where", [cond, g!, zero]), x, y) : undefined,
    needs[2] ? unbroadcast(e.op("Where", [cond, zero, g!]), z, y) : undefined,
  ];
};

/** Max/Min: the gradient goes to the inputs equal to the result (to each of them on ties). */
const selectExtreme: GradRule = ({ node, dy: [g], needs, unbroadcast, b: e, scalar }) => {
  const y = node.outputs[0];
  const zero = scalar(0, y);
  return node.inputs.map((x, i) =>
    needs[i] ? unbroadcast(e.op("Where", [e.op("Equal", [x, y]), g!, zero]), x, y) : undefined,
  );
};

/** d sum(x_i) = g for each */
const Sum: GradRule = ({ node, dy: [g], needs, unbroadcast }) =>
  node.inputs.map((x, i) => (needs[i] ? unbroadcast(g!, x, node.outputs[0]) : undefined));

/** d mean(x_i) = g/n for each */
const Mean: GradRule = ({ node, dy: [g], needs, unbroadcast, b: e, scalar }) => {
  const y = node.outputs[0];
  const scaled = e.op("Mul", [g!, scalar(1 / node.inputs.length, y)]);
  return node.inputs.map((x, i) => (needs[i] ? unbroadcast(scaled, x, y) : undefined));
};

export const elementwiseRules: Record<string, GradRule> = {
  Add,
  Sub,
  Mul,
  Div,
  Pow,
  Where,
  Max: selectExtreme,
  Min: selectExtreme,
  Sum,
  Mean,
};
