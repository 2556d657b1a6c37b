import assert from "node:assert/strict";
import { describe, it, type TestContext } from "node:test";
import { Rng } from "../../random/index.js";
import type { GraphBuilder } from "../graph/builder.js";
import { groupNorm } from "../nn/norm.js";
import { i64, type Tensor } from "../onnx/tensor.js";
import { DataType } from "../onnx/types.js";
import { type GradCheckOptions, gradcheck, randomTensor } from "./gradcheck.js";
import type { GradRule } from "./index.js";

const D = DataType.DOUBLE;
const F = DataType.FLOAT;

interface Case {
  /** Input shapes; names starting with "+" are kept positive (log, sqrt, …) and drop the "+". */
  shapes: Record<string, number[]>;
  build: (b: GraphBuilder, x: Record<string, string>) => string;
  dtype?: DataType;
  /** Inputs not differentiated (indices, conditions). */
  extra?: Record<string, Tensor>;
  wrt?: string[];
  tolerance?: number;
}

function setup(c: Case): GradCheckOptions {
  const dtype = c.dtype ?? D;
  const rng = new Rng(11);
  const inputs: Record<string, Tensor> = { ...c.extra };
  const names: string[] = [];
  for (const [raw, dims] of Object.entries(c.shapes)) {
    const positive = raw.startsWith("+");
    const name = positive ? raw.slice(1) : raw;
    const t = randomTensor(rng, dims, dtype);
    if (positive) for (let i = 0; i < t.data.length; i++) t.data[i] = Math.abs(t.data[i] as number) + 0.5;
    inputs[name] = t;
    names.push(name);
  }
  return {
    dtype,
    inputs,
    wrt: c.wrt ?? names,
    tolerance: c.tolerance,
    build: (b, x) => c.build(b, x),
  };
}

async function check(c: Case, t: TestContext): Promise<void> {
  const report = await gradcheck(setup(c));
  const modes = [...new Set(report.checks.map((k) => k.mode))].join("+");
  t.diagnostic(`${modes} worst relative error ${report.worst.toExponential(2)} ≤ ${report.tolerance}`);
  assert.ok(report.ok, `gradient check failed: ${JSON.stringify(report)}`);
}

const cases: Record<string, Case> = {
  // elementwise, with broadcasting both ways
  "Add (broadcast)": { shapes: { a: [2, 3, 4], b: [3, 1] }, build: (b, x) => b.op("Add", [x.a, x.b]) },
  "Sub (broadcast)": { shapes: { a: [3, 1], b: [2, 3, 4] }, build: (b, x) => b.op("Sub", [x.a, x.b]) },
  "Mul (broadcast)": { shapes: { a: [2, 3, 4], b: [4] }, build: (b, x) => b.op("Mul", [x.a, x.b]) },
  "Div (broadcast)": { shapes: { a: [2, 3], "+b": [2, 1] }, build: (b, x) => b.op("Div", [x.a, x.b]) },
  "Pow (tensor exponent)": { shapes: { "+a": [2, 3], b: [3] }, build: (b, x) => b.op("Pow", [x.a, x.b]) },
  "Pow (constant square)": { shapes: { a: [5] }, build: (b, x) => b.op("Pow", [x.a, b.scalar(2)]) },
  Where: {
    shapes: { a: [2, 3], b: [3] },
    extra: { cond: { dtype: DataType.BOOL, dims: [2, 3], data: Uint8Array.of(1, 0, 1, 0, 0, 1) } },
    wrt: ["a", "b"],
    build: (b, x) => b.op("Where", [x.cond, x.a, x.b]),
  },
  Max: { shapes: { a: [2, 3], b: [3] }, build: (b, x) => b.op("Max", [x.a, x.b]) },
  Min: { shapes: { a: [2, 3], b: [2, 3] }, build: (b, x) => b.op("Min", [x.a, x.b]) },
  Sum: { shapes: { a: [2, 3], b: [3], c: [2, 1] }, build: (b, x) => b.op("Sum", [x.a, x.b, x.c]) },
  "Mean (f32)": { dtype: F, shapes: { a: [2, 3], b: [3] }, build: (b, x) => b.op("Mean", [x.a, x.b]) },
  // unary
  Relu: { shapes: { x: [3, 4] }, build: (b, x) => b.op("Relu", [x.x]) },
  Neg: { shapes: { x: [3, 4] }, build: (b, x) => b.op("Neg", [x.x]) },
  Exp: { shapes: { x: [3, 4] }, build: (b, x) => b.op("Exp", [x.x]) },
  Log: { shapes: { "+x": [3, 4] }, build: (b, x) => b.op("Log", [x.x]) },
  Sqrt: { shapes: { "+x": [3, 4] }, build: (b, x) => b.op("Sqrt", [x.x]) },
  Sigmoid: { shapes: { x: [3, 4] }, build: (b, x) => b.op("Sigmoid", [x.x]) },
  Tanh: { shapes: { x: [3, 4] }, build: (b, x) => b.op("Tanh", [x.x]) },
  Sin: { shapes: { x: [3, 4] }, build: (b, x) => b.op("Sin", [x.x]) },
  Cos: { shapes: { x: [3, 4] }, build: (b, x) => b.op("Cos", [x.x]) },
  Abs: { shapes: { x: [3, 4] }, build: (b, x) => b.op("Abs", [x.x]) },
  Reciprocal: { shapes: { "+x": [3, 4] }, build: (b, x) => b.op("Reciprocal", [x.x]) },
  Identity: { shapes: { x: [3, 4] }, build: (b, x) => b.op("Identity", [x.x]) },
  "LeakyRelu (f32)": {
    dtype: F,
    shapes: { x: [3, 4] },
    build: (b, x) => b.op("LeakyRelu", [x.x], { alpha: 0.2 }),
  },
  Clip: { shapes: { x: [3, 4] }, build: (b, x) => b.op("Clip", [x.x, b.scalar(-0.5), b.scalar(0.7)]) },
  "Erf (f32)": { dtype: F, shapes: { x: [3, 4] }, build: (b, x) => b.op("Erf", [x.x]) },
  "Softplus (f32)": { dtype: F, shapes: { x: [3, 4] }, build: (b, x) => b.op("Softplus", [x.x]) },
  "Gelu (f32)": { dtype: F, shapes: { x: [3, 4] }, build: (b, x) => b.op("Gelu", [x.x]) },
  "Gelu tanh approximation (f32)": {
    dtype: F,
    shapes: { x: [3, 4] },
    build: (b, x) => b.op("Gelu", [x.x], { approximate: "tanh" }),
  },
  "Cast (f32 → f64)": {
    dtype: F,
    shapes: { x: [3, 4] },
    build: (b, x) => b.op("Exp", [b.op("Cast", [x.x], { to: DataType.DOUBLE })]),
  },
  // matrix products
  "MatMul (2-D)": { shapes: { a: [3, 4], b: [4, 5] }, build: (b, x) => b.op("MatMul", [x.a, x.b]) },
  "MatMul (batched × shared weight)": {
    shapes: { a: [2, 3, 4], b: [4, 5] },
    build: (b, x) => b.op("MatMul", [x.a, x.b]),
  },
  "MatMul (batched × batched)": {
    shapes: { a: [2, 3, 4], b: [2, 4, 5] },
    build: (b, x) => b.op("MatMul", [x.a, x.b]),
  },
  "MatMul (broadcast batch)": {
    shapes: { a: [2, 1, 3, 4], b: [3, 4, 2] },
    build: (b, x) => b.op("MatMul", [x.a, x.b]),
  },
  Gemm: {
    shapes: { a: [3, 4], b: [4, 5], c: [5] },
    build: (b, x) => b.op("Gemm", [x.a, x.b, x.c], { alpha: 0.7, beta: 1.3 }),
  },
  "Gemm (transA)": {
    shapes: { a: [4, 3], b: [4, 5] },
    build: (b, x) => b.op("Gemm", [x.a, x.b], { transA: 1 }),
  },
  "Gemm (transB, bias [M,N])": {
    shapes: { a: [3, 4], b: [5, 4], c: [3, 5] },
    build: (b, x) => b.op("Gemm", [x.a, x.b, x.c], { transB: 1 }),
  },
  "Gemm (transA, transB)": {
    shapes: { a: [4, 3], b: [5, 4], c: [3, 1] },
    build: (b, x) => b.op("Gemm", [x.a, x.b, x.c], { transA: 1, transB: 1, alpha: 2 }),
  },
  // convolution (onnxruntime has float32 kernels only)
  "Conv 3×3 pad 1 + bias": {
    dtype: F,
    shapes: { x: [2, 3, 5, 5], w: [4, 3, 3, 3], bias: [4] },
    build: (b, x) => b.op("Conv", [x.x, x.w, x.bias], { pads: [1, 1, 1, 1] }),
  },
  "Conv stride 2 on odd size": {
    dtype: F,
    shapes: { x: [2, 2, 7, 6], w: [3, 2, 3, 3] },
    build: (b, x) => b.op("Conv", [x.x, x.w], { pads: [1, 1, 1, 1], strides: [2, 2] }),
  },
  "Conv groups 2, dilation 2, asymmetric pads": {
    dtype: F,
    shapes: { x: [2, 4, 6, 6], w: [6, 2, 3, 3] },
    build: (b, x) => b.op("Conv", [x.x, x.w], { group: 2, dilations: [2, 2], pads: [2, 1, 1, 2] }),
  },
  "Conv dilation 2, asymmetric pads": {
    dtype: F,
    shapes: { x: [2, 3, 6, 5], w: [2, 3, 3, 2] },
    build: (b, x) => b.op("Conv", [x.x, x.w], { dilations: [2, 2], pads: [2, 0, 1, 2] }),
  },
  "Conv with fewer outputs than inputs (dW unfolds G), dilation 2, asymmetric pads": {
    dtype: F,
    shapes: { x: [2, 5, 7, 6], w: [2, 5, 3, 2] },
    build: (b, x) => b.op("Conv", [x.x, x.w], { dilations: [2, 2], pads: [3, 0, 1, 2] }),
  },
  "Conv with fewer outputs than inputs, 3×3 pad 1 (UNet up-block shape)": {
    dtype: F,
    shapes: { x: [2, 6, 5, 5], w: [3, 6, 3, 3], bias: [3] },
    build: (b, x) => b.op("Conv", [x.x, x.w, x.bias], { pads: [1, 1, 1, 1] }),
  },
  "Conv on a tiny map (dW as one GEMM over batch × pixels)": {
    dtype: F,
    shapes: { x: [2, 8, 2, 2], w: [8, 8, 3, 3] },
    build: (b, x) => b.op("Conv", [x.x, x.w], { pads: [1, 1, 1, 1] }),
  },
  "Conv on a tiny map, fewer outputs (G unfolded, one GEMM)": {
    dtype: F,
    shapes: { x: [2, 12, 2, 2], w: [6, 12, 3, 3] },
    build: (b, x) => b.op("Conv", [x.x, x.w], { pads: [1, 1, 1, 1] }),
  },
  "Conv 1×1 with padding": {
    dtype: F,
    shapes: { x: [2, 3, 3, 3], w: [2, 3, 1, 1] },
    build: (b, x) => b.op("Conv", [x.x, x.w], { pads: [1, 1, 1, 1] }),
  },
  "Conv depthwise stride 2": {
    dtype: F,
    shapes: { x: [1, 3, 6, 6], w: [3, 1, 3, 3] },
    build: (b, x) => b.op("Conv", [x.x, x.w], { group: 3, strides: [2, 2], pads: [1, 1, 1, 1] }),
  },
  "Conv 1×1": {
    dtype: F,
    shapes: { x: [2, 3, 4, 4], w: [5, 3, 1, 1] },
    build: (b, x) => b.op("Conv", [x.x, x.w]),
  },
  "Conv 1-D": {
    dtype: F,
    shapes: { x: [2, 3, 9], w: [2, 3, 3] },
    build: (b, x) => b.op("Conv", [x.x, x.w], { strides: [2], pads: [1, 0] }),
  },
  // pooling and resizing
  "MaxPool 3×3 stride 2 (overlapping)": {
    shapes: { x: [1, 2, 5, 5] },
    build: (b, x) => b.op("MaxPool", [x.x], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }),
  },
  "AveragePool 2×2": {
    dtype: F,
    shapes: { x: [2, 3, 4, 4] },
    build: (b, x) => b.op("AveragePool", [x.x], { kernel_shape: [2, 2], strides: [2, 2] }),
  },
  "AveragePool 3×3 pad 1 (count_include_pad)": {
    dtype: F,
    shapes: { x: [1, 2, 5, 5] },
    build: (b, x) =>
      b.op("AveragePool", [x.x], { kernel_shape: [3, 3], pads: [1, 1, 1, 1], count_include_pad: 1 }),
  },
  GlobalAveragePool: {
    dtype: F,
    shapes: { x: [2, 3, 4, 5] },
    build: (b, x) => b.op("GlobalAveragePool", [x.x]),
  },
  "Resize nearest ×2": {
    dtype: F,
    shapes: { x: [1, 2, 3, 4] },
    build: (b, x) =>
      b.op("Resize", [x.x, "", b.constant({ dtype: F, dims: [4], data: Float32Array.of(1, 1, 2, 2) })], {
        mode: "nearest",
      }),
  },
  "Resize nearest ×3 asymmetric floor": {
    dtype: F,
    shapes: { x: [1, 2, 3, 2] },
    build: (b, x) =>
      b.op("Resize", [x.x, "", b.constant({ dtype: F, dims: [4], data: Float32Array.of(1, 1, 3, 3) })], {
        mode: "nearest",
        coordinate_transformation_mode: "asymmetric",
        nearest_mode: "floor",
      }),
  },
  // reductions
  "ReduceSum keepdims": {
    shapes: { x: [2, 3, 4] },
    build: (b, x) => b.op("ReduceSum", [x.x, b.ints([1, -1])]),
  },
  "ReduceSum all": { shapes: { x: [2, 3, 4] }, build: (b, x) => b.op("ReduceSum", [x.x], { keepdims: 0 }) },
  "ReduceMean no keepdims": {
    shapes: { x: [2, 3, 4] },
    build: (b, x) => b.op("ReduceMean", [x.x, b.ints([0, 2])], { keepdims: 0 }),
  },
  ReduceSumSquare: {
    shapes: { x: [2, 3, 4] },
    build: (b, x) => b.op("ReduceSumSquare", [x.x, b.ints([2])]),
  },
  // shape ops
  Reshape: {
    shapes: { x: [2, 3, 4] },
    build: (b, x) => b.op("Tanh", [b.op("Reshape", [x.x, b.ints([4, -1])])]),
  },
  Flatten: { shapes: { x: [2, 3, 4] }, build: (b, x) => b.op("Tanh", [b.op("Flatten", [x.x], { axis: 2 })]) },
  "Squeeze / Unsqueeze": {
    shapes: { x: [2, 1, 4] },
    build: (b, x) => b.op("Unsqueeze", [b.op("Squeeze", [x.x, b.ints([1])]), b.ints([0])]),
  },
  Transpose: {
    shapes: { x: [2, 3, 4], w: [2] },
    build: (b, x) => b.op("Mul", [b.op("Transpose", [x.x], { perm: [1, 2, 0] }), x.w]),
  },
  Concat: {
    shapes: { a: [2, 3], b: [2, 1], c: [2, 2] },
    build: (b, x) => b.op("Tanh", [b.op("Concat", [x.a, x.b, x.c], { axis: -1 })]),
  },
  "Split (one output unused)": {
    shapes: { x: [2, 6] },
    build: (b, x) => {
      const [p, , r] = b.opN("Split", [x.x, b.ints([1, 2, 3])], { axis: 1 }, 3);
      return b.op("Concat", [b.op("Exp", [p]), r], { axis: 1 });
    },
  },
  Slice: {
    shapes: { x: [3, 5, 4] },
    build: (b, x) => b.op("Slice", [x.x, b.ints([1, -4]), b.ints([100, 4]), b.ints([1, 2])]),
  },
  Pad: {
    shapes: { x: [2, 3] },
    build: (b, x) => b.op("Tanh", [b.op("Pad", [x.x, b.ints([1, 0, 2, 2])])]),
  },
  Expand: { shapes: { x: [3, 1] }, build: (b, x) => b.op("Expand", [x.x, b.ints([2, 3, 4])]) },
  "Gather axis 0 (repeated ids)": {
    shapes: { table: [5, 3] },
    extra: { ids: i64([2, 3], [4, 1, 4, 0, 4, 2]) },
    wrt: ["table"],
    build: (b, x) => b.op("Gather", [x.table, x.ids]),
  },
  "Gather axis 1 (scalar index)": {
    shapes: { x: [2, 4, 3] },
    extra: { i: i64([], [2]) },
    wrt: ["x"],
    build: (b, x) => b.op("Gather", [x.x, x.i], { axis: 1 }),
  },
  "Gather axis 1 (index matrix)": {
    shapes: { x: [2, 4, 3] },
    extra: { i: i64([2, 2], [3, 0, 3, 1]) },
    wrt: ["x"],
    build: (b, x) => b.op("Gather", [x.x, x.i], { axis: 1 }),
  },
  // softmax family and normalization
  Softmax: { shapes: { x: [2, 3, 4] }, build: (b, x) => b.op("Softmax", [x.x], { axis: 1 }) },
  LogSoftmax: { shapes: { x: [2, 5] }, build: (b, x) => b.op("LogSoftmax", [x.x]) },
  "LayerNormalization (f64, recomputed stats)": {
    shapes: { x: [2, 3, 4], scale: [4], bias: [4] },
    build: (b, x) => b.op("LayerNormalization", [x.x, x.scale, x.bias], { axis: -1, epsilon: 1e-5 }),
  },
  "LayerNormalization (f32, forward stats, two axes)": {
    dtype: F,
    shapes: { x: [2, 3, 4], scale: [3, 4], bias: [4] },
    build: (b, x) => b.op("LayerNormalization", [x.x, x.scale, x.bias], { axis: 1, epsilon: 1e-5 }),
  },
  "groupNorm layer: LayerNormalization with a constant unit scale (f32, forward stats)": {
    dtype: F,
    shapes: { x: [2, 4, 3, 3] },
    wrt: ["x", "gn.weight", "gn.bias"],
    build: (b, x) => b.op("Tanh", [groupNorm(b, "gn", x.x, { channels: 4, groups: 2, impl: "layernorm" })]),
  },
  "groupNorm layer on InstanceNormalization (f32, x̂ from the output)": {
    dtype: F,
    shapes: { x: [2, 4, 3, 3] },
    wrt: ["x", "gn.weight", "gn.bias"],
    build: (b, x) =>
      b.op("Tanh", [groupNorm(b, "gn", x.x, { channels: 4, groups: 2, impl: "instancenorm" })]),
  },
  "groupNorm layer (f64, recomputed stats)": {
    shapes: { x: [2, 4, 3, 3] },
    wrt: ["x", "gn.weight", "gn.bias"],
    build: (b, x) => b.op("Tanh", [groupNorm(b, "gn", x.x, { channels: 4, groups: 2, impl: "layernorm" })]),
  },
  "InstanceNormalization (f32)": {
    dtype: F,
    shapes: { x: [2, 3, 4, 4], scale: [3], bias: [3] },
    build: (b, x) => b.op("InstanceNormalization", [x.x, x.scale, x.bias], { epsilon: 1e-5 }),
  },
  "GroupNormalization (opset 21, f64 statistics)": {
    shapes: { x: [2, 4, 3, 3], scale: [4], bias: [4] },
    build: (b, x) =>
      b.op("GroupNormalization", [x.x, x.scale, x.bias], { num_groups: 2, epsilon: 1e-5, stash_type: D }),
  },
  "GroupNormalization (opset 21, f32)": {
    dtype: F,
    shapes: { x: [2, 6, 3, 3], scale: [6], bias: [6] },
    build: (b, x) => b.op("GroupNormalization", [x.x, x.scale, x.bias], { num_groups: 3, epsilon: 1e-5 }),
  },
};

describe("gradient rules match finite differences", () => {
  for (const [name, c] of Object.entries(cases)) it(name, (t) => check(c, t));
});

describe("gradient checks", () => {
  it("fail for a deliberately wrong rule", async () => {
    const wrongSigmoid: GradRule = ({ dy: [g], node, b }) => [b.op("Mul", [g!, node.outputs[0]])];
    const options = setup(cases.Sigmoid);
    const report = await gradcheck({ ...options, rules: { Sigmoid: wrongSigmoid } });
    assert.equal(report.ok, false);
    assert.ok(report.worst > 0.1, `wrong rule should be far off, got ${report.worst}`);
  });

  it("fail for a wrong unbroadcast (missing reduction) in float32 directional mode", async () => {
    const noUnbroadcast: GradRule = ({ dy: [g] }) => [g, undefined];
    const options = setup({
      dtype: F,
      shapes: { a: [3], b: [2, 3] },
      build: (b, x) => b.op("Add", [x.a, x.b]),
    });
    const report = await gradcheck({ ...options, wrt: ["a"], rules: { Add: noUnbroadcast } });
    assert.equal(report.ok, false);
    assert.equal(report.checks[0].mode, "shape");
  });
});
