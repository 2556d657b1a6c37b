import { attrInt, attrInts, attrString } from "../../graph/ir.js";
import { DataType } from "../../onnx/types.js";
import type { GradRule } from "../context.js";

/**
 * MaxPool: re-run the pool asking for the argmax indices (flat over N·C·H·W), then scatter-add G into a
 * zero tensor at those indices — correct for overlapping windows, where one input can win several.
 */
const MaxPool: GradRule = (c) => {
  const { node, b } = c;
  if (!c.needs[0]) return [];
  if (attrInt(node, "storage_order", 0) !== 0) c.fail("storage_order=1 is not supported");
  const x = node.inputs[0];
  const indices = node.outputs[1] || c.forwardOutput(1);
  const flat = b.ints([-1]);
  const zeros = b.op("ConstantOfShape", [b.op("Reshape", [b.op("Size", [x]), flat])], {
    value: {
      dtype: c.type(x).dtype,
      dims: [1],
      data: c.type(x).dtype === DataType.DOUBLE ? new Float64Array(1) : new Float32Array(1),
    },
  });
  const scattered = b.op(
    "ScatterElements",
    [zeros, b.op("Reshape", [indices, flat]), b.op("Reshape", [c.dy[0]!, flat])],
    { axis: 0, reduction: "add" },
  );
  return [b.op("Reshape", [scattered, c.shapeOf(x)])];
};

/**
 * AveragePool: each input receives G/area from every window containing it — a depthwise transposed
 * convolution with a constant 1/area kernel.
 */
const AveragePool: GradRule = (c) => {
  const { node, b } = c;
  if (!c.needs[0]) return [];
  const x = node.inputs[0];
  const xs = c.shape(x);
  const ys = c.shape(node.outputs[0]);
  const kernel = attrInts(node, "kernel_shape") ?? c.fail("kernel_shape missing");
  const spatial = kernel.length;
  const strides = attrInts(node, "strides") ?? kernel.map(() => 1);
  const dilations = attrInts(node, "dilations") ?? kernel.map(() => 1);
  const pads = attrInts(node, "pads") ?? new Array(2 * spatial).fill(0);
  if (attrString(node, "auto_pad", "NOTSET") !== "NOTSET") c.fail("auto_pad is not supported");
  if (attrInt(node, "count_include_pad", 0) === 0 && pads.some((p) => p !== 0)) {
    c.fail("count_include_pad=0 with padding is not supported");
  }
  const channels = c.num(xs[1], "channel count");
  const outputPadding: number[] = [];
  for (let i = 0; i < spatial; i++) {
    const size = c.num(xs[i + 2], "input spatial size");
    const out = c.num(ys[i + 2], "output spatial size");
    const covered = strides[i] * (out - 1) + (kernel[i] - 1) * dilations[i] + 1 - pads[i] - pads[i + spatial];
    if (covered > size) c.fail("ceil_mode windows past the input are not supported");
    outputPadding.push(size - covered);
  }
  const area = kernel.reduce((p, k) => p * k, 1);
  const dtype = c.type(x).dtype;
  const n = channels * area;
  const data = dtype === DataType.DOUBLE ? new Float64Array(n) : new Float32Array(n);
  data.fill(1 / area);
  const weight = b.constant({ dtype, dims: [channels, 1, ...kernel], data });
  return [
    b.op("ConvTranspose", [c.dy[0]!, weight], {
      group: channels,
      kernel_shape: kernel,
      strides,
      dilations,
      pads,
      output_padding: outputPadding,
    }),
  ];
};

/** GlobalAveragePool: G broadcast over the spatial axes, divided by their size. */
const GlobalAveragePool: GradRule = (c) => {
  if (!c.needs[0]) return [];
  const x = c.node.inputs[0];
  const y = c.node.outputs[0];
  const spread = c.b.op("Expand", [c.dy[0]!, c.shapeOf(x)]);
  return [c.b.op("Div", [spread, c.countRatio(x, y)])];
};

/**
 * Resize with mode=nearest and integer up-scaling factors (the UNet upsample): every output pixel copies one
 * input pixel, so dX sums G over each s×s block — an average pool times the block area.
 */
const Resize: GradRule = (c) => {
  const { node, b } = c;
  if (!c.needs[0]) return [];
  if (attrString(node, "mode", "nearest") !== "nearest") c.fail("only mode=nearest is supported");
  const x = node.inputs[0];
  const xs = c.shape(x);
  const ys = c.shape(node.outputs[0]);
  let scales = node.inputs[2] ? c.floats(node.inputs[2]) : undefined;
  if (!scales || scales.length === 0) {
    scales = xs.map(
      (d, i) => c.num(ys[i], "output size without scales") / c.num(d, "input size without scales"),
    );
  }
  if (scales[0] !== 1 || scales[1] !== 1) c.fail("only spatial resizing is supported");
  const factors = scales.slice(2);
  if (factors.some((s) => !Number.isInteger(s) || s < 1)) c.fail("only integer up-scaling is supported");
  // Output pixel x reads input pixel j of its block [j·s, j·s+s) only for these coordinate modes.
  const mode = attrString(node, "coordinate_transformation_mode", "half_pixel");
  const nearest = attrString(node, "nearest_mode", "round_prefer_floor");
  const blockwise =
    mode === "half_pixel" ||
    mode === "pytorch_half_pixel" ||
    (mode === "asymmetric" &&
      (nearest === "floor" || (nearest === "round_prefer_floor" && factors.every((s) => s <= 2))));
  if (!blockwise) c.fail(`nearest resize with ${mode}/${nearest} is not supported`);
  if (factors.every((s) => s === 1)) return [c.dy[0]];
  const area = factors.reduce((p, s) => p * s, 1);
  const pooled = b.op("AveragePool", [c.dy[0]!], { kernel_shape: factors, strides: factors });
  return [b.op("Mul", [pooled, c.scalar(area, x)])];
};

export const poolRules: Record<string, GradRule> = { MaxPool, AveragePool, GlobalAveragePool, Resize };
