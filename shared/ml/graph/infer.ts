import { numel, type Tensor } from "../onnx/tensor.js";
import { DataType } from "../onnx/types.js";
import { attrInt, attrInts, attrString, clampToNumber, type Dim, type Graph, type Node } from "./ir.js";

/**
 * Static type of a value: element type, shape (dims may be symbols; undefined = rank unknown) and, for
 * small integer tensors computed from shapes (Shape → Gather → Concat chains in exported models), their
 * content as dims so Reshape targets stay known.
 */
export interface ValueType {
  dtype: DataType;
  shape?: Dim[];
  value?: Dim[];
}

/** Constant tensors visible to inference: non-parameter initializers and Constant nodes. */
export interface Constants {
  get(name: string): Tensor | undefined;
}

interface Ctx {
  node: Node;
  ins: (ValueType | undefined)[];
  constant(i: number): Tensor | undefined;
  /** The integer content of input i as numbers, if constant or propagated and fully known. */
  ints(i: number): number[] | undefined;
  unknown(): string;
}

type ShapeFn = (c: Ctx) => (ValueType | undefined)[];

let unknownCounter = 0;

/** True for an unknown-size dim produced by inference. */
export function isUnknownDim(d: Dim): boolean {
  return typeof d === "string" && d.startsWith("?");
}

function normAxis(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}

function broadcast(shapes: (Dim[] | undefined)[], c: Ctx): Dim[] | undefined {
  if (shapes.some((s) => s === undefined)) return undefined;
  const all = shapes as Dim[][];
  const rank = Math.max(...all.map((s) => s.length));
  const out: Dim[] = [];
  for (let i = 0; i < rank; i++) {
    let d: Dim = 1;
    for (const s of all) {
      const k = s.length - rank + i;
      if (k < 0) continue;
      const e = s[k];
      if (e === 1) continue;
      if (d === 1) d = e;
      else if (d !== e) {
        if (typeof e === "number") d = e;
        else if (typeof d !== "number" && isUnknownDim(d)) d = e;
      }
    }
    out.push(d === undefined ? c.unknown() : d);
  }
  return out;
}

function same(c: Ctx): (ValueType | undefined)[] {
  return [c.ins[0] && { dtype: c.ins[0].dtype, shape: c.ins[0].shape }];
}

function elementwise(c: Ctx, dtype?: DataType): (ValueType | undefined)[] {
  const present = c.ins.filter((t, i) => t !== undefined && c.node.inputs[i] !== "");
  if (present.length !== c.node.inputs.filter((i) => i !== "").length) return [undefined];
  const t0 = present[0] as ValueType;
  return [
    {
      dtype: dtype ?? t0.dtype,
      shape: broadcast(
        present.map((t) => t?.shape),
        c,
      ),
    },
  ];
}

function arith(c: Ctx, f: (a: number, b: number) => number): (ValueType | undefined)[] {
  const [out] = elementwise(c);
  const a = c.ins[0]?.value;
  const b = c.ins[1]?.value;
  if (out && a && b && out.shape && out.shape.length <= 1) {
    const n = Math.max(a.length, b.length);
    const value: Dim[] = [];
    for (let i = 0; i < n; i++) {
      const x = a.length === 1 ? a[0] : a[i];
      const y = b.length === 1 ? b[0] : b[i];
      value.push(typeof x === "number" && typeof y === "number" ? f(x, y) : c.unknown());
    }
    out.value = value;
  }
  return [out];
}

function spatialOut(
  c: Ctx,
  size: Dim,
  k: number,
  stride: number,
  dilation: number,
  padTotal: number,
  ceil: boolean,
): Dim {
  const eff = (k - 1) * dilation + 1;
  if (typeof size === "number") {
    const span = size + padTotal - eff;
    return (ceil ? Math.ceil(span / stride) : Math.floor(span / stride)) + 1;
  }
  if (stride === 1 && padTotal === eff - 1) return size;
  return c.unknown();
}

function convLike(c: Ctx, channels: Dim, kernel: number[] | undefined): (ValueType | undefined)[] {
  const x = c.ins[0];
  if (!x?.shape) return [x && { dtype: x.dtype }];
  const spatial = x.shape.length - 2;
  const k = kernel ?? [];
  if (k.length !== spatial) return [{ dtype: x.dtype }];
  const strides = attrInts(c.node, "strides") ?? k.map(() => 1);
  const dil = attrInts(c.node, "dilations") ?? k.map(() => 1);
  const pads = attrInts(c.node, "pads") ?? new Array(2 * spatial).fill(0);
  const autoPad = attrString(c.node, "auto_pad", "NOTSET");
  const ceil = attrInt(c.node, "ceil_mode", 0) === 1;
  const out: Dim[] = [x.shape[0], channels];
  for (let i = 0; i < spatial; i++) {
    const size = x.shape[i + 2];
    if (autoPad === "SAME_UPPER" || autoPad === "SAME_LOWER") {
      out.push(
        typeof size === "number" ? Math.ceil(size / strides[i]) : strides[i] === 1 ? size : c.unknown(),
      );
    } else if (autoPad === "VALID") {
      out.push(spatialOut(c, size, k[i], strides[i], dil[i], 0, ceil));
    } else {
      out.push(spatialOut(c, size, k[i], strides[i], dil[i], pads[i] + pads[i + spatial], ceil));
    }
  }
  return [{ dtype: x.dtype, shape: out }];
}

function reduce(c: Ctx, axesFromInput: boolean): (ValueType | undefined)[] {
  const x = c.ins[0];
  if (!x?.shape) return [x && { dtype: x.dtype }];
  const keep = attrInt(c.node, "keepdims", 1) === 1;
  let axes = axesFromInput ? c.ints(1) : attrInts(c.node, "axes");
  const hasAxesInput = axesFromInput && c.node.inputs.length > 1 && c.node.inputs[1] !== "";
  if (axesFromInput && hasAxesInput && axes === undefined) return [{ dtype: x.dtype }];
  if (!axes || axes.length === 0) {
    if (attrInt(c.node, "noop_with_empty_axes", 0) === 1) return same(c);
    axes = x.shape.map((_, i) => i);
  }
  const rank = x.shape.length;
  const set = new Set(axes.map((a) => normAxis(a, rank)));
  const shape: Dim[] = [];
  x.shape.forEach((d, i) => {
    if (!set.has(i)) shape.push(d);
    else if (keep) shape.push(1);
  });
  return [{ dtype: x.dtype, shape }];
}

function reshapeTarget(c: Ctx, input: Dim[] | undefined, target: Dim[], allowZero: boolean): Dim[] {
  const out = target.map((d, i) => (d === 0 && !allowZero ? (input?.[i] ?? c.unknown()) : d));
  const minus = out.indexOf(-1);
  if (minus < 0) return out;
  if (!input) {
    out[minus] = c.unknown();
    return out;
  }
  // Cancel symbols and numbers between input and output to solve for the -1.
  let num = 1;
  const symbols: string[] = [];
  for (const d of input) {
    if (typeof d === "number") num *= d;
    else symbols.push(d);
  }
  let den = 1;
  let ok = true;
  out.forEach((d, i) => {
    if (i === minus) return;
    if (typeof d === "number") den *= d;
    else {
      const k = symbols.indexOf(d);
      if (k >= 0 && !isUnknownDim(d)) symbols.splice(k, 1);
      else ok = false;
    }
  });
  if (ok && symbols.length === 0 && den > 0 && num % den === 0) out[minus] = num / den;
  else if (ok && symbols.length === 1 && num === den) out[minus] = symbols[0];
  else out[minus] = c.unknown();
  return out;
}

function dimsValue(c: Ctx, i: number): Dim[] | undefined {
  const t = c.constant(i);
  if (t) return Array.from(t.data as ArrayLike<number | bigint>, (v) => clampToNumber(v));
  return c.ins[i]?.value;
}

const castDtype = (c: Ctx): DataType => attrInt(c.node, "to", DataType.FLOAT) as DataType;
const FLOAT_UNARY = [
  "Relu",
  "Neg",
  "Exp",
  "Log",
  "Sqrt",
  "Sigmoid",
  "Tanh",
  "Erf",
  "Sin",
  "Cos",
  "Identity",
  "Abs",
  "Reciprocal",
  "Floor",
  "Ceil",
  "Round",
  "Sign",
  "Softplus",
  "LeakyRelu",
  "Elu",
  "Gelu",
  "HardSigmoid",
  "Clip",
  "Softmax",
  "LogSoftmax",
  "InstanceNormalization",
  "GroupNormalization",
  "BatchNormalization",
  "Mish",
  "CumSum",
  "Trilu",
  "ScatterND",
  "ScatterElements",
];

const rules: Record<string, ShapeFn> = {
  Add: (c) => arith(c, (a, b) => a + b),
  Sub: (c) => arith(c, (a, b) => a - b),
  Mul: (c) => arith(c, (a, b) => a * b),
  Div: (c) => arith(c, (a, b) => Math.trunc(a / b)),
  Pow: (c) => [c.ins[0] && { dtype: c.ins[0].dtype, shape: broadcast([c.ins[0].shape, c.ins[1]?.shape], c) }],
  Max: (c) => elementwise(c),
  Min: (c) => elementwise(c),
  Sum: (c) => elementwise(c),
  Mean: (c) => elementwise(c),
  Mod: (c) => elementwise(c),
  PRelu: (c) => elementwise(c),
  Equal: (c) => elementwise(c, DataType.BOOL),
  Less: (c) => elementwise(c, DataType.BOOL),
  Greater: (c) => elementwise(c, DataType.BOOL),
  LessOrEqual: (c) => elementwise(c, DataType.BOOL),
  GreaterOrEqual: (c) => elementwise(c, DataType.BOOL),
  And: (c) => elementwise(c, DataType.BOOL),
  Or: (c) => elementwise(c, DataType.BOOL),
  Not: (c) => [c.ins[0] && { dtype: DataType.BOOL, shape: c.ins[0].shape }],
  IsNaN: (c) => [c.ins[0] && { dtype: DataType.BOOL, shape: c.ins[0].shape }],
  Where: (c) => {
    const x = c.ins[1];
    if (!x) return [undefined];
    return [{ dtype: x.dtype, shape: broadcast([c.ins[0]?.shape, x.shape, c.ins[2]?.shape], c) }];
  },
  Cast: (c) => [c.ins[0] && { dtype: castDtype(c), shape: c.ins[0].shape, value: c.ins[0].value }],
  CastLike: (c) => [c.ins[0] && c.ins[1] && { dtype: c.ins[1].dtype, shape: c.ins[0].shape }],
  Dropout: (c) => [...same(c), c.ins[0] && { dtype: DataType.BOOL, shape: c.ins[0].shape }],
  LayerNormalization: (c) => {
    const x = c.ins[0];
    if (!x) return [undefined, undefined, undefined];
    if (!x.shape) return [{ dtype: x.dtype }, { dtype: DataType.FLOAT }, { dtype: DataType.FLOAT }];
    const axis = normAxis(attrInt(c.node, "axis", -1), x.shape.length);
    const stat = x.shape.map((d, i) => (i < axis ? d : 1));
    const statType = attrInt(c.node, "stash_type", 1) as DataType;
    return [
      { dtype: x.dtype, shape: x.shape },
      { dtype: statType, shape: stat },
      { dtype: statType, shape: stat },
    ];
  },
  MatMul: (c) => {
    const [a, b] = c.ins;
    if (!a || !b) return [undefined];
    if (!a.shape || !b.shape) return [{ dtype: a.dtype }];
    const as = a.shape.length === 1 ? [1, a.shape[0]] : a.shape;
    const bs = b.shape.length === 1 ? [b.shape[0], 1] : b.shape;
    const batch = broadcast([as.slice(0, -2), bs.slice(0, -2)], c) ?? [];
    const shape: Dim[] = [...batch];
    if (a.shape.length > 1) shape.push(as[as.length - 2]);
    if (b.shape.length > 1) shape.push(bs[bs.length - 1]);
    return [{ dtype: a.dtype, shape }];
  },
  Gemm: (c) => {
    const [a, b] = c.ins;
    if (!a || !b) return [undefined];
    if (!a.shape || !b.shape) return [{ dtype: a.dtype }];
    const m = attrInt(c.node, "transA", 0) ? a.shape[1] : a.shape[0];
    const n = attrInt(c.node, "transB", 0) ? b.shape[0] : b.shape[1];
    return [{ dtype: a.dtype, shape: [m, n] }];
  },
  Conv: (c) => {
    const w = c.ins[1];
    const kernel = attrInts(c.node, "kernel_shape") ?? (w?.shape?.slice(2) as number[] | undefined);
    return convLike(c, w?.shape?.[0] ?? c.unknown(), kernel);
  },
  ConvTranspose: (c) => {
    const [x, w] = c.ins;
    if (!x?.shape || !w?.shape) return [x && { dtype: x.dtype }];
    const group = attrInt(c.node, "group", 1);
    const spatial = x.shape.length - 2;
    const k = attrInts(c.node, "kernel_shape") ?? (w.shape.slice(2) as number[]);
    const strides = attrInts(c.node, "strides") ?? k.map(() => 1);
    const dil = attrInts(c.node, "dilations") ?? k.map(() => 1);
    const pads = attrInts(c.node, "pads") ?? new Array(2 * spatial).fill(0);
    const outPad = attrInts(c.node, "output_padding") ?? k.map(() => 0);
    const outShape = attrInts(c.node, "output_shape");
    const m = typeof w.shape[1] === "number" ? w.shape[1] * group : c.unknown();
    const shape: Dim[] = [x.shape[0], m];
    for (let i = 0; i < spatial; i++) {
      const size = x.shape[i + 2];
      if (outShape) shape.push(outShape[i]);
      else if (typeof size === "number") {
        shape.push(
          strides[i] * (size - 1) + outPad[i] + (k[i] - 1) * dil[i] + 1 - pads[i] - pads[i + spatial],
        );
      } else shape.push(c.unknown());
    }
    return [{ dtype: x.dtype, shape }];
  },
  MaxPool: (c) => {
    const x = c.ins[0];
    const out = convLike(c, x?.shape?.[1] ?? c.unknown(), attrInts(c.node, "kernel_shape"));
    return [out[0], out[0] && { dtype: DataType.INT64, shape: out[0].shape }];
  },
  AveragePool: (c) => convLike(c, c.ins[0]?.shape?.[1] ?? c.unknown(), attrInts(c.node, "kernel_shape")),
  GlobalAveragePool: (c) => {
    const x = c.ins[0];
    return [x && { dtype: x.dtype, shape: x.shape?.map((d, i) => (i < 2 ? d : 1)) }];
  },
  GlobalMaxPool: (c) => rules.GlobalAveragePool(c),
  ReduceSum: (c) => reduce(c, true),
  ReduceMean: (c) => reduce(c, (c.node.inputs.length ?? 0) > 1 || !c.node.attrs.axes),
  ReduceMax: (c) => reduce(c, (c.node.inputs.length ?? 0) > 1 || !c.node.attrs.axes),
  ReduceMin: (c) => reduce(c, (c.node.inputs.length ?? 0) > 1 || !c.node.attrs.axes),
  ReduceProd: (c) => reduce(c, (c.node.inputs.length ?? 0) > 1 || !c.node.attrs.axes),
  ReduceSumSquare: (c) => reduce(c, (c.node.inputs.length ?? 0) > 1 || !c.node.attrs.axes),
  ReduceL2: (c) => reduce(c, (c.node.inputs.length ?? 0) > 1 || !c.node.attrs.axes),
  ArgMax: (c) => {
    const x = c.ins[0];
    if (!x?.shape) return [{ dtype: DataType.INT64 }];
    const axis = normAxis(attrInt(c.node, "axis", 0), x.shape.length);
    const keep = attrInt(c.node, "keepdims", 1) === 1;
    const shape = x.shape.flatMap((d, i) => (i !== axis ? [d] : keep ? [1] : []));
    return [{ dtype: DataType.INT64, shape }];
  },
  ArgMin: (c) => rules.ArgMax(c),
  Reshape: (c) => {
    const x = c.ins[0];
    const target = dimsValue(c, 1);
    if (!x) return [undefined];
    if (!target) {
      const n = c.ins[1]?.shape?.[0];
      return [
        {
          dtype: x.dtype,
          shape: typeof n === "number" ? Array.from({ length: n }, () => c.unknown()) : undefined,
        },
      ];
    }
    const shape = reshapeTarget(c, x.shape, target, attrInt(c.node, "allowzero", 0) === 1);
    return [{ dtype: x.dtype, shape, value: x.value && shape.length <= 1 ? x.value : undefined }];
  },
  Flatten: (c) => {
    const x = c.ins[0];
    if (!x?.shape) return [x && { dtype: x.dtype }];
    const axis = normAxis(attrInt(c.node, "axis", 1), x.shape.length);
    const prod = (ds: Dim[]): Dim =>
      ds.length === 0
        ? 1
        : ds.length === 1
          ? ds[0]
          : ds.every((d) => typeof d === "number")
            ? numel(ds as number[])
            : c.unknown();
    return [{ dtype: x.dtype, shape: [prod(x.shape.slice(0, axis)), prod(x.shape.slice(axis))] }];
  },
  Squeeze: (c) => {
    const x = c.ins[0];
    if (!x?.shape) return [x && { dtype: x.dtype }];
    const axesRaw = c.node.inputs.length > 1 ? c.ints(1) : attrInts(c.node, "axes");
    const rank = x.shape.length;
    const axes = axesRaw ? new Set(axesRaw.map((a) => normAxis(a, rank))) : undefined;
    const shape = x.shape.filter((d, i) => (axes ? !axes.has(i) : d !== 1));
    return [{ dtype: x.dtype, shape, value: x.value }];
  },
  Unsqueeze: (c) => {
    const x = c.ins[0];
    const axesRaw = c.node.inputs.length > 1 ? c.ints(1) : attrInts(c.node, "axes");
    if (!x?.shape || !axesRaw) return [x && { dtype: x.dtype }];
    const rank = x.shape.length + axesRaw.length;
    const axes = new Set(axesRaw.map((a) => normAxis(a, rank)));
    const shape: Dim[] = [];
    let k = 0;
    for (let i = 0; i < rank; i++) shape.push(axes.has(i) ? 1 : x.shape[k++]);
    return [{ dtype: x.dtype, shape, value: x.value }];
  },
  Transpose: (c) => {
    const x = c.ins[0];
    if (!x?.shape) return [x && { dtype: x.dtype }];
    const shape = x.shape;
    const perm = attrInts(c.node, "perm") ?? shape.map((_, i) => shape.length - 1 - i);
    return [{ dtype: x.dtype, shape: perm.map((p) => shape[p]) }];
  },
  Concat: (c) => {
    if (c.ins.some((t) => !t)) return [undefined];
    const ins = c.ins as ValueType[];
    if (ins.some((t) => !t.shape)) return [{ dtype: ins[0].dtype }];
    const shapes = ins.map((t) => t.shape as Dim[]);
    const rank = shapes[0].length;
    const axis = normAxis(attrInt(c.node, "axis", 0), rank);
    const shape = [...shapes[0]];
    let total: Dim = 0;
    for (const s of shapes) {
      const d = s[axis];
      total = typeof total === "number" && typeof d === "number" ? total + d : c.unknown();
    }
    shape[axis] = total;
    // Fill symbols from later inputs when the first has unknowns.
    for (let i = 0; i < rank; i++) {
      if (i === axis || !isUnknownDim(shape[i])) continue;
      for (const s of shapes) if (!isUnknownDim(s[i])) shape[i] = s[i];
    }
    const value = rank === 1 && ins.every((t) => t.value) ? ins.flatMap((t) => t.value as Dim[]) : undefined;
    return [{ dtype: ins[0].dtype, shape, value }];
  },
  Split: (c) => {
    const x = c.ins[0];
    const n = c.node.outputs.length;
    if (!x?.shape) return c.node.outputs.map(() => x && { dtype: x.dtype });
    const axis = normAxis(attrInt(c.node, "axis", 0), x.shape.length);
    const dim = x.shape[axis];
    let sizes = c.node.inputs.length > 1 && c.node.inputs[1] ? c.ints(1) : attrInts(c.node, "split");
    if (!sizes && typeof dim === "number") {
      const chunk = Math.ceil(dim / n);
      sizes = Array.from({ length: n }, (_, i) => Math.min(chunk, dim - chunk * i));
    }
    return c.node.outputs.map((_, i) => {
      const shape = [...(x.shape as Dim[])];
      shape[axis] = sizes ? sizes[i] : c.unknown();
      return { dtype: x.dtype, shape };
    });
  },
  Slice: (c) => {
    const x = c.ins[0];
    if (!x?.shape) return [x && { dtype: x.dtype }];
    const starts = c.ints(1);
    const ends = c.ints(2);
    const rank = x.shape.length;
    const axes = c.node.inputs[3] ? c.ints(3) : starts?.map((_, i) => i);
    const steps = c.node.inputs[4] ? c.ints(4) : starts?.map(() => 1);
    if (!starts || !ends || !axes || !steps) {
      return [{ dtype: x.dtype, shape: x.shape.map(() => c.unknown()) }];
    }
    const shape = [...x.shape];
    let value = x.value ? [...x.value] : undefined;
    axes.forEach((a0, i) => {
      const a = normAxis(a0, rank);
      const dim = shape[a];
      if (typeof dim !== "number") {
        shape[a] = c.unknown();
        value = undefined;
        return;
      }
      const r = sliceRange(dim, starts[i], ends[i], steps[i]);
      shape[a] = r.count;
      if (value && rank === 1)
        value = Array.from({ length: r.count }, (_, k) => (value as Dim[])[r.start + k * steps[i]]);
    });
    return [{ dtype: x.dtype, shape, value }];
  },
  Expand: (c) => {
    const x = c.ins[0];
    const target = dimsValue(c, 1);
    if (!x) return [undefined];
    if (!target) {
      // Exports compute the target shape at run time (Where/Equal over Shape): when only its length is
      // known, the rank still is, and every dim of x other than 1 survives the broadcast.
      const n = c.ins[1]?.shape?.[0];
      if (typeof n !== "number" || !x.shape) return [{ dtype: x.dtype }];
      const rank = Math.max(n, x.shape.length);
      const shape = Array.from({ length: rank }, (_, i) => {
        const d = x.shape?.[i - (rank - (x.shape?.length ?? 0))];
        return d === undefined || d === 1 ? c.unknown() : d;
      });
      return [{ dtype: x.dtype, shape }];
    }
    return [{ dtype: x.dtype, shape: broadcast([x.shape, target], c) }];
  },
  Tile: (c) => {
    const x = c.ins[0];
    const reps = c.ints(1);
    if (!x?.shape || !reps) return [x && { dtype: x.dtype }];
    return [
      {
        dtype: x.dtype,
        shape: x.shape.map((d, i) => (reps[i] === 1 ? d : typeof d === "number" ? d * reps[i] : c.unknown())),
      },
    ];
  },
  Gather: (c) => {
    const [x, idx] = c.ins;
    if (!x) return [undefined];
    if (!x.shape || !idx?.shape) return [{ dtype: x.dtype }];
    const axis = normAxis(attrInt(c.node, "axis", 0), x.shape.length);
    const shape = [...x.shape.slice(0, axis), ...idx.shape, ...x.shape.slice(axis + 1)];
    let value: Dim[] | undefined;
    const indices = c.ints(1);
    if (x.value && indices && x.shape.length === 1) {
      const n = x.value.length;
      value = indices.map((i) => (x.value as Dim[])[i < 0 ? i + n : i]);
    }
    return [{ dtype: x.dtype, shape, value }];
  },
  GatherElements: (c) => [c.ins[0] && { dtype: c.ins[0].dtype, shape: c.ins[1]?.shape }],
  Pad: (c) => {
    const x = c.ins[0];
    const pads = c.ints(1);
    if (!x?.shape || !pads) return [x && { dtype: x.dtype, shape: x.shape?.map(() => c.unknown()) }];
    const rank = x.shape.length;
    const axes = c.node.inputs[3] ? c.ints(3)?.map((a) => normAxis(a, rank)) : x.shape.map((_, i) => i);
    if (!axes) return [{ dtype: x.dtype }];
    const shape = [...x.shape];
    axes.forEach((a, i) => {
      const add = pads[i] + pads[i + axes.length];
      const d = shape[a];
      shape[a] = add === 0 ? d : typeof d === "number" ? d + add : c.unknown();
    });
    return [{ dtype: x.dtype, shape }];
  },
  Resize: (c) => {
    const x = c.ins[0];
    if (!x?.shape) return [x && { dtype: x.dtype }];
    const sizes = c.node.inputs[3] ? dimsValue(c, 3) : undefined;
    if (sizes) return [{ dtype: x.dtype, shape: sizes }];
    const scalesT = c.node.inputs[2] ? c.constant(2) : undefined;
    if (!scalesT) return [{ dtype: x.dtype, shape: x.shape.map(() => c.unknown()) }];
    const scales = Array.from(scalesT.data as Float32Array);
    return [
      {
        dtype: x.dtype,
        shape: x.shape.map((d, i) =>
          scales[i] === 1 ? d : typeof d === "number" ? Math.floor(d * scales[i]) : c.unknown(),
        ),
      },
    ];
  },
  Shape: (c) => {
    const x = c.ins[0];
    if (!x?.shape) return [{ dtype: DataType.INT64, shape: [c.unknown()] }];
    const rank = x.shape.length;
    let start = attrInt(c.node, "start", 0);
    let end = attrInt(c.node, "end", rank);
    start = Math.max(0, Math.min(rank, normAxis(start, rank)));
    end = Math.max(0, Math.min(rank, normAxis(end, rank)));
    const value = x.shape.slice(start, end);
    return [{ dtype: DataType.INT64, shape: [value.length], value }];
  },
  Size: (c) => {
    const x = c.ins[0];
    const n = x?.shape?.every((d) => typeof d === "number") ? numel(x.shape as number[]) : c.unknown();
    return [{ dtype: DataType.INT64, shape: [], value: [n] }];
  },
  Constant: (c) => {
    const a = c.node.attrs.value;
    if (a?.kind === "tensor") {
      const t = a.value;
      const small =
        t.dims.length <= 1 &&
        t.data.length <= 64 &&
        !(t.data instanceof Float32Array || t.data instanceof Float64Array);
      return [
        {
          dtype: t.dtype,
          shape: t.dims,
          value: small ? Array.from(t.data as ArrayLike<number | bigint>, clampToNumber) : undefined,
        },
      ];
    }
    const vf = c.node.attrs.value_float;
    if (vf) return [{ dtype: DataType.FLOAT, shape: [] }];
    const vfs = c.node.attrs.value_floats;
    if (vfs?.kind === "floats") return [{ dtype: DataType.FLOAT, shape: [vfs.value.length] }];
    const vi = c.node.attrs.value_int;
    if (vi?.kind === "int") return [{ dtype: DataType.INT64, shape: [], value: [clampToNumber(vi.value)] }];
    const vis = c.node.attrs.value_ints;
    if (vis?.kind === "ints")
      return [{ dtype: DataType.INT64, shape: [vis.value.length], value: vis.value.map(clampToNumber) }];
    return [undefined];
  },
  ConstantOfShape: (c) => {
    const a = c.node.attrs.value;
    const dtype = a?.kind === "tensor" ? a.value.dtype : DataType.FLOAT;
    return [{ dtype, shape: dimsValue(c, 0) }];
  },
  Range: (c) => {
    const [s, l, d] = [c.ints(0), c.ints(1), c.ints(2)];
    const n = s && l && d ? Math.max(0, Math.ceil((l[0] - s[0]) / d[0])) : c.unknown();
    return [c.ins[0] && { dtype: c.ins[0].dtype, shape: [n] }];
  },
  MaxUnpool: (c) => [c.ins[0] && { dtype: c.ins[0].dtype, shape: dimsValue(c, 2) }],
};
for (const op of FLOAT_UNARY) rules[op] ??= same;

/** Normalizes ONNX Slice start/end/step for one axis of size `dim`: first index and element count. */
export function sliceRange(
  dim: number,
  start: number,
  end: number,
  step: number,
): { start: number; count: number } {
  let s = start < 0 ? start + dim : start;
  let e = end < 0 ? end + dim : end;
  if (step > 0) {
    s = Math.max(0, Math.min(dim, s));
    e = Math.max(0, Math.min(dim, e));
    return { start: s, count: Math.max(0, Math.ceil((e - s) / step)) };
  }
  s = Math.max(-1, Math.min(dim - 1, s));
  e = Math.max(-1, Math.min(dim - 1, e));
  return { start: s, count: Math.max(0, Math.ceil((e - s) / step)) };
}

/** The constant tensors of a graph: non-parameter initializers and the values of Constant nodes. */
export function graphConstants(graph: Graph): Constants {
  const constantNodes = new Map<string, Node>();
  for (const n of graph.nodes) if (n.op === "Constant" && n.outputs[0]) constantNodes.set(n.outputs[0], n);
  return {
    get(name: string): Tensor | undefined {
      if (!graph.params.has(name)) {
        const t = graph.initializers.get(name);
        if (t) return t;
      }
      const n = constantNodes.get(name);
      if (!n) return undefined;
      const a = n.attrs.value;
      if (a?.kind === "tensor") return a.value;
      const vi = n.attrs.value_ints;
      if (vi?.kind === "ints")
        return {
          dtype: DataType.INT64,
          dims: [vi.value.length],
          data: BigInt64Array.from(vi.value, (v) => BigInt(v)),
        };
      const v1 = n.attrs.value_int;
      if (v1?.kind === "int")
        return { dtype: DataType.INT64, dims: [], data: BigInt64Array.of(BigInt(v1.value)) };
      const vf = n.attrs.value_float;
      if (vf?.kind === "float") return { dtype: DataType.FLOAT, dims: [], data: Float32Array.of(vf.value) };
      const vfs = n.attrs.value_floats;
      if (vfs?.kind === "floats")
        return { dtype: DataType.FLOAT, dims: [vfs.value.length], data: Float32Array.from(vfs.value) };
      return undefined;
    },
  };
}

/**
 * Infers the type (and, where it can, the shape) of every value of the graph. Ops without a rule take
 * their types from the graph's value_info hints, else stay unknown.
 */
export function inferTypes(graph: Graph): Map<string, ValueType> {
  const types = new Map<string, ValueType>();
  const constants = graphConstants(graph);
  for (const v of graph.inputs) types.set(v.name, { dtype: v.dtype, shape: v.shape && [...v.shape] });
  for (const [name, t] of graph.initializers) {
    const small =
      t.dims.length <= 1 &&
      t.data.length <= 64 &&
      !(t.data instanceof Float32Array || t.data instanceof Float64Array);
    types.set(name, {
      dtype: t.dtype,
      shape: [...t.dims],
      value:
        small && !graph.params.has(name)
          ? Array.from(t.data as ArrayLike<number | bigint>, clampToNumber)
          : undefined,
    });
  }
  const unknown = (): string => `?${unknownCounter++}`;
  for (const node of graph.nodes) {
    const ins = node.inputs.map((i) => (i ? types.get(i) : undefined));
    const ctx: Ctx = {
      node,
      ins,
      constant: (i) => (node.inputs[i] ? constants.get(node.inputs[i]) : undefined),
      ints: (i) => {
        const t = node.inputs[i] ? constants.get(node.inputs[i]) : undefined;
        if (t && !(t.data instanceof Float32Array || t.data instanceof Float64Array)) {
          return Array.from(t.data as ArrayLike<number | bigint>, clampToNumber);
        }
        const v = ins[i]?.value;
        return v?.every((d) => typeof d === "number") ? (v as number[]) : undefined;
      },
      unknown,
    };
    const rule = node.domain === "" || node.domain === "ai.onnx" ? rules[node.op] : undefined;
    let outs: (ValueType | undefined)[] = [];
    if (rule) {
      try {
        outs = rule(ctx);
      } catch {
        outs = [];
      }
    }
    node.outputs.forEach((o, i) => {
      if (!o) return;
      const t = outs[i] ?? hint(graph, o);
      if (t) types.set(o, t);
    });
  }
  return types;
}

function hint(graph: Graph, name: string): ValueType | undefined {
  const v = graph.valueInfo.get(name) ?? graph.outputs.find((o) => o.name === name && o.dtype !== 0);
  return v && { dtype: v.dtype, shape: v.shape && [...v.shape] };
}
