import { attrFloat, attrInt } from "../../graph/ir.js";
import { DataType } from "../../onnx/types.js";
import { type GradContext, type GradRule, staticSize } from "../context.js";

/** x̂ and 1/σ of `x` over `axes` (keepdims), recomputed from primitives. */
function standardize(
  c: GradContext,
  x: string,
  axes: number[],
  epsilon: number,
  like: string = x,
): { xhat: string; invstd: string } {
  const { b } = c;
  const ax = b.ints(axes);
  const centered = b.op("Sub", [x, b.op("ReduceMean", [x, ax], { keepdims: 1 })]);
  const variance = b.op("ReduceMean", [b.op("Mul", [centered, centered]), ax], { keepdims: 1 });
  const invstd = b.op("Reciprocal", [b.op("Sqrt", [b.op("Add", [variance, c.scalar(epsilon, like)])])]);
  return { xhat: b.op("Mul", [centered, invstd]), invstd };
}

/**
 * The backward of x̂ = (x − μ)/σ over `axes`, given dx̂:
 * dx = (dx̂ − mean(dx̂) − x̂ · mean(dx̂ ⊙ x̂)) / σ.
 */
function standardizeBackward(
  c: GradContext,
  gxhat: string,
  xhat: string,
  invstd: string,
  axes: number[],
): string {
  const { b } = c;
  const ax = b.ints(axes);
  const meanG = b.op("ReduceMean", [gxhat, ax], { keepdims: 1 });
  const meanGX = b.op("ReduceMean", [b.op("Mul", [gxhat, xhat]), ax], { keepdims: 1 });
  const inner = b.op("Sub", [b.op("Sub", [gxhat, meanG]), b.op("Mul", [xhat, meanGX])]);
  return b.op("Mul", [inner, invstd]);
}

/**
 * LayerNormalization(X, Scale, B) over axes [axis, rank): float32 graphs reuse the forward's Mean and
 * InvStdDev outputs; other types recompute them (onnxruntime returns float32 statistics for them).
 */
const LayerNormalization: GradRule = (c) => {
  const { node, b, needs } = c;
  const g = c.dy[0]!;
  const [x, scale, bias] = node.inputs;
  const y = node.outputs[0];
  const rank = c.shape(x).length;
  const a = attrInt(node, "axis", -1);
  const axis = a < 0 ? a + rank : a;
  const axes = Array.from({ length: rank - axis }, (_, i) => axis + i);
  // Without an affine part (GroupNorm built on LayerNormalization: unit scale, zero bias) the output IS x̂.
  const unitScale = c.floats(scale)?.every((v) => v === 1) ?? false;
  const noShift = !bias || (c.floats(bias)?.every((v) => v === 0) ?? false);
  let xhat: string;
  let invstd: string;
  const stash = attrInt(node, "stash_type", DataType.FLOAT);
  if (c.type(x).dtype === DataType.FLOAT && stash === DataType.FLOAT) {
    invstd = c.forwardOutput(2);
    xhat = unitScale && noShift ? y : b.op("Mul", [b.op("Sub", [x, c.forwardOutput(1)]), invstd]);
  } else {
    ({ xhat, invstd } = standardize(c, x, axes, attrFloat(node, "epsilon", 1e-5)));
  }
  const gxhat = needs[0] ? (unitScale ? g : b.op("Mul", [g, scale])) : undefined;
  return [
    gxhat ? standardizeBackward(c, gxhat, xhat, invstd, axes) : undefined,
    needs[1] ? c.unbroadcast(b.op("Mul", [g, xhat]), scale, y) : undefined,
    needs[2] && bias ? c.unbroadcast(g, bias, y) : undefined,
  ];
};

/**
 * InstanceNormalization(X, scale[C], B[C]): per-(n, c) statistics over the spatial axes. 1/σ comes from two
 * read-only reductions (mean of x and of x²); x̂ is the forward output itself when the affine part is the
 * identity (GroupNorm built on InstanceNormalization), else it is recomputed.
 */
const InstanceNormalization: GradRule = (c) => {
  const { node, b, needs } = c;
  const g = c.dy[0]!;
  const [x, scale, bias] = node.inputs;
  const rank = c.shape(x).length;
  const spatial = Array.from({ length: rank - 2 }, (_, i) => i + 2);
  const epsilon = attrFloat(node, "epsilon", 1e-5);
  const unitScale = c.floats(scale)?.every((v) => v === 1) ?? false;
  const noShift = c.floats(bias)?.every((v) => v === 0) ?? false;
  let xhat: string;
  let invstd: string;
  if (unitScale && noShift) {
    const ax = b.ints(spatial);
    const mean = b.op("ReduceMean", [x, ax], { keepdims: 1 });
    const sumSq = b.op("ReduceSumSquare", [x, ax], { keepdims: 1 });
    const n = staticSize(c.shape(x).slice(2));
    const meanSq =
      n !== undefined
        ? b.op("Mul", [sumSq, c.scalar(1 / n, x)])
        : b.op("Div", [sumSq, b.op("CastLike", [b.op("Div", [b.op("Size", [x]), b.op("Size", [mean])]), x])]);
    const variance = b.op("Max", [b.op("Sub", [meanSq, b.op("Mul", [mean, mean])]), c.scalar(0, x)]);
    invstd = b.op("Reciprocal", [b.op("Sqrt", [b.op("Add", [variance, c.scalar(epsilon, x)])])]);
    xhat = node.outputs[0];
  } else {
    ({ xhat, invstd } = standardize(c, x, spatial, epsilon));
  }
  const perChannel = (v: string) => b.op("Unsqueeze", [v, b.ints(spatial.map((_, i) => i + 1))]);
  const sumAxes = b.ints([0, ...spatial]);
  const gxhat = unitScale ? g : b.op("Mul", [g, perChannel(scale)]);
  return [
    needs[0] ? standardizeBackward(c, gxhat, xhat, invstd, spatial) : undefined,
    needs[1] ? b.op("ReduceSum", [b.op("Mul", [g, xhat]), sumAxes], { keepdims: 0 }) : undefined,
    needs[2] ? b.op("ReduceSum", [g, sumAxes], { keepdims: 0 }) : undefined,
  ];
};

/** GroupNormalization (opset 21, per-channel scale and bias): statistics over each group of channels. */
const GroupNormalization: GradRule = (c) => {
  const { node, b, needs } = c;
  const g = c.dy[0]!;
  const [x, scale] = node.inputs;
  if (c.b.graph.opsets.get("") !== undefined && (c.b.graph.opsets.get("") as number) < 21) {
    c.fail("GroupNormalization before opset 21 (per-group scale) is not supported");
  }
  const rank = c.shape(x).length;
  const spatial = Array.from({ length: rank - 2 }, (_, i) => i + 2);
  const groups = attrInt(node, "num_groups", 1);
  const grouped = b.ints([0, groups, -1]);
  const xg = b.op("Reshape", [x, grouped]);
  const { xhat, invstd } = standardize(c, xg, [2], attrFloat(node, "epsilon", 1e-5), x);
  const shapeX = c.shapeOf(x);
  const xhatFull = b.op("Reshape", [xhat, shapeX]);
  const perChannel = (v: string) => b.op("Unsqueeze", [v, b.ints(spatial.map((_, i) => i + 1))]);
  const sumAxes = b.ints([0, ...spatial]);
  let gx: string | undefined;
  if (needs[0]) {
    const gxhat = b.op("Reshape", [b.op("Mul", [g, perChannel(scale)]), grouped]);
    gx = b.op("Reshape", [standardizeBackward(c, gxhat, xhat, invstd, [2]), shapeX]);
  }
  return [
    gx,
    needs[1] ? b.op("ReduceSum", [b.op("Mul", [g, xhatFull]), sumAxes], { keepdims: 0 }) : undefined,
    needs[2] ? b.op("ReduceSum", [g, sumAxes], { keepdims: 0 }) : undefined,
  ];
};

export const normRules: Record<string, GradRule> = {
  LayerNormalization,
  InstanceNormalization,
  GroupNormalization,
};
