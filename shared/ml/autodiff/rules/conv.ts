import { attrInt, attrInts, attrString, type Dim } from "../../graph/ir.js";
import { DataType } from "../../onnx/types.js";
import { type GradContext, type GradRule, staticSize } from "../context.js";

interface ConvGeometry {
  spatial: number;
  kernel: number[];
  strides: number[];
  dilations: number[];
  pads: number[];
  group: number;
}

function geometry(c: GradContext): ConvGeometry {
  const { node, shape } = c;
  const w = shape(node.inputs[1]);
  const spatial = w.length - 2;
  const kernel = attrInts(node, "kernel_shape") ?? (w.slice(2) as number[]);
  if (kernel.some((k) => typeof k !== "number")) c.fail("kernel shape must be static");
  const strides = attrInts(node, "strides") ?? kernel.map(() => 1);
  const dilations = attrInts(node, "dilations") ?? kernel.map(() => 1);
  let pads = attrInts(node, "pads") ?? new Array(2 * spatial).fill(0);
  const autoPad = attrString(node, "auto_pad", "NOTSET");
  if (autoPad === "SAME_UPPER" || autoPad === "SAME_LOWER") {
    // Explicit pads from static input sizes, as the spec defines them.
    const x = shape(node.inputs[0]);
    pads = new Array(2 * spatial).fill(0);
    for (let i = 0; i < spatial; i++) {
      const size = x[i + 2];
      if (typeof size !== "number") c.fail("auto_pad SAME needs static spatial sizes");
      const out = Math.ceil(size / strides[i]);
      const total = Math.max(0, (out - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - size);
      const small = Math.floor(total / 2);
      pads[i] = autoPad === "SAME_UPPER" ? small : total - small;
      pads[i + spatial] = total - pads[i];
    }
  }
  return { spatial, kernel, strides, dilations, pads, group: attrInt(node, "group", 1) };
}

/**
 * dX of a convolution is the transposed convolution of G with the same weights. At stride 1 without groups
 * that equals a plain convolution of G with W transposed and flipped (onnxruntime's Conv is faster than its
 * ConvTranspose), padded by dilation·(k−1) − pad on each side.
 */
function inputGrad(c: GradContext, geo: ConvGeometry, g: string): string {
  const [x, w] = c.node.inputs;
  const S = geo.spatial;
  const full = geo.kernel.map((k, i) => geo.dilations[i] * (k - 1));
  const flippable =
    geo.group === 1 && geo.strides.every((s) => s === 1) && geo.pads.every((p, i) => p <= full[i % S]);
  if (flippable) {
    const rest = Array.from({ length: S }, (_, i) => i + 2);
    const swapped = c.b.op("Transpose", [w], { perm: [1, 0, ...rest] });
    const flipped = c.b.op("Slice", [
      swapped,
      c.b.ints(rest.map(() => -1)),
      c.b.ints(rest.map(() => Number.MIN_SAFE_INTEGER)),
      c.b.ints(rest),
      c.b.ints(rest.map(() => -1)),
    ]);
    return c.b.op("Conv", [g, flipped], {
      kernel_shape: geo.kernel,
      dilations: geo.dilations,
      pads: geo.pads.map((p, i) => full[i % S] - p),
    });
  }
  const xs = c.shape(x);
  const ys = c.shape(c.node.outputs[0]);
  const outputPadding: number[] = [];
  for (let i = 0; i < geo.spatial; i++) {
    const { strides: s, kernel: k, dilations: d, pads: p } = geo;
    const size = xs[i + 2];
    const out = ys[i + 2];
    if (typeof size === "number" && typeof out === "number") {
      outputPadding.push(size - (s[i] * (out - 1) + (k[i] - 1) * d[i] + 1 - p[i] - p[i + geo.spatial]));
    } else if (s[i] === 1) outputPadding.push(0);
    else c.fail("strided convolution needs static spatial sizes for its input gradient");
  }
  return c.b.op("ConvTranspose", [g, w], {
    strides: geo.strides,
    dilations: geo.dilations,
    pads: geo.pads,
    group: geo.group,
    kernel_shape: geo.kernel,
    output_padding: outputPadding,
  });
}

/** One-hot depthwise kernels [channels·K, 1, k…]: channel c·K + j picks kernel position j (or K−1−j). */
function onehotKernels(
  c: GradContext,
  channels: number,
  kernel: number[],
  like: string,
  flip: boolean,
): string {
  const window = kernel.reduce((p, k) => p * k, 1);
  const dtype = c.type(like).dtype;
  const data =
    dtype === DataType.DOUBLE
      ? new Float64Array(channels * window * window)
      : new Float32Array(channels * window * window);
  for (let ch = 0; ch < channels; ch++) {
    for (let j = 0; j < window; j++) data[(ch * window + j) * window + (flip ? window - 1 - j : j)] = 1;
  }
  return c.b.constant({ dtype, dims: [channels * window, 1, ...kernel], data });
}

/**
 * Σ over images and pixels of a[n] · b[n]ᵀ, for a [N, A, R] and b [N, B, R] (R = pixels): [A, B]. Either a
 * batched MatMul then a sum over the batch (writes N·A·B), or both operands laid out [·, N·R] for one GEMM
 * (copies N·R·(A + B)); the cheaper by element count is emitted (the latter wins on small feature maps).
 */
function contractPixels(
  c: GradContext,
  a: string,
  rowsA: number,
  b2: string,
  rowsB: number,
  pixels: number | undefined,
): string {
  const { b } = c;
  if (pixels !== undefined && pixels * (rowsA + rowsB) < rowsA * rowsB) {
    const lay = (v: string, rows: number) =>
      b.op("Reshape", [b.op("Transpose", [v], { perm: [1, 0, 2] }), b.ints([rows, -1])]);
    return b.op("Gemm", [lay(a, rowsA), lay(b2, rowsB)], { transB: 1 });
  }
  const perImage = b.op("MatMul", [a, b.op("Transpose", [b2], { perm: [0, 2, 1] })]);
  return b.op("ReduceSum", [perImage, b.ints([0])], { keepdims: 0 });
}

/**
 * dW of an ungrouped convolution as GEMMs over an unfolded tensor. The unfold (im2col) is itself a
 * depthwise convolution with fixed one-hot kernels, so onnxruntime handles stride, dilation and padding.
 * Whichever of X and G has fewer channels is unfolded (G only at stride 1), since the unfold writes k… copies:
 *  - unfold X: cols[n, C·k…, P] (rows in W's (C, k…) order), dW = Σ_n cols_n · G_nᵀ;
 *  - unfold G: G shifted by each kernel offset over X's grid, rows[n, M·k…, Q], dW = Σ_n rows_n · X_nᵀ.
 */
function weightGradUnfold(c: GradContext, geo: ConvGeometry, g: string): string {
  const { b } = c;
  const [x, w] = c.node.inputs;
  const ws = c.shape(w);
  const S = geo.spatial;
  const m = c.num(ws[0], "output channels");
  const cin = c.num(ws[1], "input channels");
  const window = geo.kernel.reduce((p, k) => p * k, 1);
  const full = geo.kernel.map((k, i) => geo.dilations[i] * (k - 1));
  const stride1 = geo.strides.every((s) => s === 1);
  const pixelsOf = (v: string) => staticSize(c.shape(v).slice(2));
  const flat = (v: string, channels: number) => b.op("Reshape", [v, b.ints([0, channels, -1])]);

  if (window > 1 && m < cin && stride1 && geo.pads.every((p, i) => p <= full[i % S])) {
    const shifted = b.op("Conv", [g, onehotKernels(c, m, geo.kernel, x, true)], {
      group: m,
      kernel_shape: geo.kernel,
      dilations: geo.dilations,
      pads: geo.pads.map((p, i) => full[i % S] - p),
    });
    const mkc = contractPixels(c, flat(shifted, m * window), m * window, flat(x, cin), cin, pixelsOf(x));
    const split = b.op("Reshape", [mkc, b.ints([m, window, cin])]);
    return b.op("Reshape", [
      b.op("Transpose", [split], { perm: [0, 2, 1] }),
      b.ints([m, cin, ...geo.kernel]),
    ]);
  }
  let cols: string;
  if (window === 1 && stride1 && geo.pads.every((p) => p === 0)) cols = flat(x, cin);
  else {
    const unfolded = b.op("Conv", [x, onehotKernels(c, cin, geo.kernel, x, false)], {
      group: cin,
      kernel_shape: geo.kernel,
      strides: geo.strides,
      dilations: geo.dilations,
      pads: geo.pads,
    });
    cols = flat(unfolded, cin * window);
  }
  // [M, C·k…] from G first: W's own layout, no transpose of the result.
  const mck = contractPixels(c, flat(g, m), m, cols, cin * window, pixelsOf(c.node.outputs[0]));
  return b.op("Reshape", [mck, b.ints([m, cin, ...geo.kernel])]);
}

/**
 * dW of a grouped convolution: a convolution of X with G in which batch plays the role of channels: with X as [C, N, …] and
 * G as [M, N, …] (weights), Conv(strides = dilation, dilations = stride) gives [C, M, k…] (cropped to the
 * kernel). Groups ride along as a grouped convolution over [Cg, G·N, …] × [G·Mg, N, …].
 */
function weightGrad(c: GradContext, geo: ConvGeometry, g: string): string {
  const { b } = c;
  const [x, w] = c.node.inputs;
  const xs = c.shape(x);
  const ws = c.shape(w);
  const gs = c.shape(c.node.outputs[0]);
  const S = geo.spatial;
  const G = geo.group;
  const rest = Array.from({ length: S }, (_, i) => i + 2);
  let xt: string;
  let gt: string;
  if (G === 1) {
    xt = b.op("Transpose", [x], { perm: [1, 0, ...rest] });
    gt = b.op("Transpose", [g], { perm: [1, 0, ...rest] });
  } else {
    const [cg, m] = [ws[1], ws[0]];
    const xSpatial = xs.slice(2);
    const gSpatial = gs.slice(2);
    const known = (ds: Dim[]): ds is number[] => ds.every((d) => typeof d === "number");
    if (typeof cg !== "number" || typeof m !== "number" || !known(xSpatial) || !known(gSpatial)) {
      c.fail("grouped convolution needs static channels and spatial sizes for its weight gradient");
    }
    const mg = m / G;
    const rest5 = rest.map((i) => i + 1);
    // X [N, G·Cg, …] → [N, G, Cg, …] → [Cg, G, N, …] → [Cg, G·N, …]
    const x5 = b.op("Reshape", [x, b.ints([-1, G, cg, ...xSpatial])]);
    xt = b.op("Reshape", [
      b.op("Transpose", [x5], { perm: [2, 1, 0, ...rest5] }),
      b.ints([cg, -1, ...xSpatial]),
    ]);
    // G [N, G·Mg, …] → [N, G, Mg, …] → [G, Mg, N, …] → [G·Mg, N, …]
    const g5 = b.op("Reshape", [g, b.ints([-1, G, mg, ...gSpatial])]);
    gt = b.op("Reshape", [
      b.op("Transpose", [g5], { perm: [1, 2, 0, ...rest5] }),
      b.ints([m, -1, ...gSpatial]),
    ]);
  }
  const full = b.op("Conv", [xt, gt], {
    strides: geo.dilations,
    dilations: geo.strides,
    pads: geo.pads,
    group: G,
  });
  // The correlation may extend past the kernel when the stride leaves unused input rows: crop.
  const cropped = b.op("Slice", [full, b.ints(rest.map(() => 0)), b.ints(geo.kernel), b.ints(rest)]);
  return b.op("Transpose", [cropped], { perm: [1, 0, ...rest] });
}

/** Conv(X, W, B): dX by ConvTranspose, dW by a batch-as-channels convolution, dB by summing G. */
const Conv: GradRule = (c) => {
  const g = c.dy[0]!;
  const geo = geometry(c);
  const rest = Array.from({ length: geo.spatial }, (_, i) => i + 2);
  return [
    c.needs[0] ? inputGrad(c, geo, g) : undefined,
    c.needs[1] ? (geo.group === 1 ? weightGradUnfold(c, geo, g) : weightGrad(c, geo, g)) : undefined,
    c.needs[2] ? c.b.op("ReduceSum", [g, c.b.ints([0, ...rest])], { keepdims: 0 }) : undefined,
  ];
};

export const convRules: Record<string, GradRule> = { Conv };
