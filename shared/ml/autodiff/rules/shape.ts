import { sliceRange } from "../../graph/infer.js";
import { attrInt, attrInts, attrString } from "../../graph/ir.js";
import { DataType } from "../../onnx/types.js";
import type { GradContext, GradRule } from "../context.js";

/** Ops that only rearrange elements into another shape: dX = reshape(G, shape(X)). */
const reshapeBack: GradRule = ({ node, dy: [g], needs, b, shapeOf }) => [
  needs[0] ? b.op("Reshape", [g!, shapeOf(node.inputs[0])]) : undefined,
];

/** transpose: dX = transpose(G, perm⁻¹) */
const Transpose: GradRule = ({ node, dy: [g], needs, b, shape }) => {
  if (!needs[0]) return [];
  const rank = shape(node.inputs[0]).length;
  const perm = attrInts(node, "perm") ?? Array.from({ length: rank }, (_, i) => rank - 1 - i);
  const inverse = new Array<number>(rank);
  perm.forEach((p, i) => {
    inverse[p] = i;
  });
  return [b.op("Transpose", [g!], { perm: inverse })];
};

/** concat: dX_i = the i-th piece of G along the axis (static sizes). */
const Concat: GradRule = (c) => {
  const { node, b } = c;
  const rank = c.shape(node.inputs[0]).length;
  const a = attrInt(node, "axis", 0);
  const axis = a < 0 ? a + rank : a;
  const sizes = node.inputs.map((x) => c.num(c.shape(x)[axis], `size of ${x} along the concat axis`));
  const pieces = b.opN("Split", [c.dy[0]!, b.ints(sizes)], { axis }, sizes.length);
  return pieces.map((p, i) => (c.needs[i] ? p : undefined));
};

/** split: dX = concat of the output gradients, zeros for outputs that do not reach the loss. */
const Split: GradRule = (c) => {
  const { node, b } = c;
  if (!c.needs[0]) return [];
  const x = node.inputs[0];
  const rank = c.shape(x).length;
  const a = attrInt(node, "axis", 0);
  const axis = a < 0 ? a + rank : a;
  const parts = node.outputs.map((y, i) => c.dy[i] ?? zerosShaped(c, y, c.type(x).dtype));
  return [b.op("Concat", parts, { axis })];
};

/** Zeros with the runtime shape of `x` and element type `dtype`. */
function zerosShaped(c: GradContext, x: string, dtype: DataType): string {
  return c.b.op("ConstantOfShape", [c.shapeOf(x)], {
    value: { dtype, dims: [1], data: dtype === DataType.DOUBLE ? new Float64Array(1) : new Float32Array(1) },
  });
}

/** slice (step 1): dX = G zero-padded back to X's extent on each sliced axis (static sizes there). */
const Slice: GradRule = (c) => {
  const { node, b } = c;
  if (!c.needs[0]) return [];
  const [x, startsName, endsName, axesName, stepsName] = node.inputs;
  const xs = c.shape(x);
  const rank = xs.length;
  const starts = c.ints(startsName) ?? c.fail("starts must be constant");
  const ends = c.ints(endsName) ?? c.fail("ends must be constant");
  const axes = axesName ? (c.ints(axesName) ?? c.fail("axes must be constant")) : starts.map((_, i) => i);
  const steps = stepsName ? (c.ints(stepsName) ?? c.fail("steps must be constant")) : starts.map(() => 1);
  const pads = new Array<number>(2 * rank).fill(0);
  axes.forEach((a0, i) => {
    const a = a0 < 0 ? a0 + rank : a0;
    if (steps[i] !== 1) c.fail("only step 1 is supported");
    const dim = c.num(xs[a], `size of sliced axis ${a}`);
    const { start, count } = sliceRange(dim, starts[i], ends[i], 1);
    pads[a] = start;
    pads[a + rank] = dim - start - count;
  });
  return [b.op("Pad", [c.dy[0]!, b.ints(pads)])];
};

/** pad (constant mode): dX = the unpadded window of G. */
const Pad: GradRule = (c) => {
  const { node, b } = c;
  if (!c.needs[0]) return [];
  if (attrString(node, "mode", "constant") !== "constant") c.fail("only constant padding is supported");
  const x = node.inputs[0];
  const rank = c.shape(x).length;
  const pads = c.ints(node.inputs[1]) ?? c.fail("pads must be constant");
  const axes = node.inputs[3]
    ? (c.ints(node.inputs[3]) ?? c.fail("axes must be constant")).map((a) => (a < 0 ? a + rank : a))
    : Array.from({ length: rank }, (_, i) => i);
  if (pads.some((p) => p < 0)) c.fail("negative pads are not supported");
  const starts = axes.map((_, i) => pads[i]);
  const ends = axes.map((_, i) => -pads[i + axes.length] || Number.MAX_SAFE_INTEGER);
  return [b.op("Slice", [c.dy[0]!, b.ints(starts), b.ints(ends), b.ints(axes)])];
};

/** expand: dX = G summed over the broadcast axes. */
const Expand: GradRule = ({ node, dy: [g], needs, unbroadcast }) => [
  needs[0] ? unbroadcast(g!, node.inputs[0], node.outputs[0]) : undefined,
];

/**
 * gather: dData = zeros with G scatter-added at the gathered positions (repeated indices accumulate).
 * Other axes are moved to the front around the scatter.
 */
const Gather: GradRule = (c) => {
  const { node, b } = c;
  if (!c.needs[0]) return [];
  const [data, indices] = node.inputs;
  const ds = c.shape(data);
  const rank = ds.length;
  const is = c.shape(indices);
  const a = attrInt(node, "axis", 0);
  const axis = a < 0 ? a + rank : a;
  const dtype = c.type(data).dtype;
  let idx = indices;
  if (c.type(indices).dtype !== DataType.INT64) idx = b.op("Cast", [idx], { to: DataType.INT64 });
  idx = b.op("Unsqueeze", [idx, b.ints([-1])]);
  let g = c.dy[0]!;
  if (axis === 0) {
    return [b.op("ScatterND", [zerosShaped(c, data, dtype), idx, g], { reduction: "add" })];
  }
  // Move the gathered axis to the front of data and the index axes to the front of G.
  const toFront = [axis, ...Array.from({ length: rank }, (_, i) => i).filter((i) => i !== axis)];
  const ri = is.length;
  const gRank = rank - 1 + ri;
  const gPerm = [
    ...Array.from({ length: ri }, (_, i) => axis + i),
    ...Array.from({ length: axis }, (_, i) => i),
    ...Array.from({ length: gRank - axis - ri }, (_, i) => axis + ri + i),
  ];
  g = b.op("Transpose", [g], { perm: gPerm });
  const zeros = zerosShaped(c, b.op("Transpose", [data], { perm: toFront }), dtype);
  const scattered = b.op("ScatterND", [zeros, idx, g], { reduction: "add" });
  const back = new Array<number>(rank);
  toFront.forEach((p, i) => {
    back[p] = i;
  });
  return [b.op("Transpose", [scattered], { perm: back })];
};

export const shapeRules: Record<string, GradRule> = {
  Reshape: reshapeBack,
  Flatten: reshapeBack,
  Squeeze: reshapeBack,
  Unsqueeze: reshapeBack,
  Transpose,
  Concat,
  Split,
  Slice,
  Pad,
  Expand,
  Gather,
};
