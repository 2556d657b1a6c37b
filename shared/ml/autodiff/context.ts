import type { GraphBuilder } from "../graph/builder.js";
import type { ValueType } from "../graph/infer.js";
import { clampToNumber, type Dim, type Node } from "../graph/ir.js";
import { allocate } from "../onnx/tensor.js";
import type { DataType } from "../onnx/types.js";

/**
 * What a gradient rule sees: the forward node, the gradients of its outputs, which inputs need a gradient,
 * and helpers to emit backward ops. Rules return one gradient name (or undefined) per input.
 */
export interface GradContext {
  node: Node;
  /** Gradient of each output; undefined where an output does not reach the loss. */
  dy: (string | undefined)[];
  /** Whether input i needs a gradient. */
  needs: boolean[];
  /** Emits backward nodes into the same graph. */
  b: GraphBuilder;
  /** Static type of a forward value (throws if unknown). */
  type(name: string): ValueType;
  /** Static shape of a forward value (throws if the rank is unknown). */
  shape(name: string): Dim[];
  /** Integer content of a constant input (axes, shapes, slice bounds); undefined if not constant. */
  ints(name: string): number[] | undefined;
  /** Float content of a constant input. */
  floats(name: string): number[] | undefined;
  /** A scalar constant with the element type of `like`. */
  scalar(value: number, like: string): string;
  /** The runtime shape of a forward value: a constant when static, else a Shape node. */
  shapeOf(name: string): string;
  /** Sums `g` (shaped like `y`, the broadcast result) down to the shape of `x`. */
  unbroadcast(g: string, x: string, y: string): string;
  /** numel(x) / numel(y) as a scalar of x's type: static when both shapes are known, else computed. */
  countRatio(x: string, y: string): string;
  /** Makes forward output `index` of the node available (adding a fresh output name if it was omitted). */
  forwardOutput(index: number): string;
  /** A dim that must be a static size for this rule; fails naming `what` otherwise. */
  num(d: Dim | undefined, what: string): number;
  /** Fails with a message naming the node. */
  fail(message: string): never;
}

/** A gradient rule: pure function from context to input gradients. */
export type GradRule = (c: GradContext) => (string | undefined)[];

/** Sizes a value of dims `shape` has, when all are numbers. */
export function staticSize(shape: Dim[]): number | undefined {
  let n = 1;
  for (const d of shape) {
    if (typeof d !== "number") return undefined;
    n *= d;
  }
  return n;
}

export function makeContext(
  node: Node,
  dy: (string | undefined)[],
  needs: boolean[],
  b: GraphBuilder,
  types: Map<string, ValueType>,
  constant: (name: string) => { data: ArrayLike<number | bigint> } | undefined,
): GradContext {
  const where = `${node.op} node ${node.name || node.outputs[0]}`;
  const fail = (message: string): never => {
    throw new Error(`gradient of ${where}: ${message}`);
  };
  const type = (name: string): ValueType => types.get(name) ?? fail(`type of ${name} is unknown`);
  const shape = (name: string): Dim[] => type(name).shape ?? fail(`rank of ${name} is unknown`);
  const scalar = (value: number, like: string): string => {
    const dtype = type(like).dtype as DataType;
    const data = allocate(dtype, 1) as Float32Array;
    data[0] = value;
    return b.constant({ dtype, dims: [], data });
  };
  const shapeOf = (name: string): string => {
    const s = types.get(name)?.shape;
    return s && staticSize(s) !== undefined ? b.ints(s as number[]) : b.op("Shape", [name]);
  };
  return {
    node,
    dy,
    needs,
    b,
    shapeOf,
    type,
    shape,
    fail,
    scalar,
    num: (d, what) => (typeof d === "number" ? d : fail(`${what} must be static (got ${String(d)})`)),
    ints(name) {
      const t = constant(name);
      if (t) return Array.from(t.data, (v) => clampToNumber(v));
      const v = types.get(name)?.value;
      return v?.every((d) => typeof d === "number") ? (v as number[]) : undefined;
    },
    floats(name) {
      const t = constant(name);
      return t ? Array.from(t.data, (v) => Number(v)) : undefined;
    },
    unbroadcast(g, x, y) {
      const xs = shape(x);
      const ys = shape(y);
      const lead = ys.length - xs.length;
      if (lead < 0) fail(`cannot unbroadcast ${y} (rank ${ys.length}) to ${x} (rank ${xs.length})`);
      const axes: number[] = [];
      for (let i = 0; i < lead; i++) axes.push(i);
      xs.forEach((d, i) => {
        if (d === 1 && ys[i + lead] !== 1) axes.push(i + lead);
      });
      if (axes.length === 0) return g;
      // Only leading axes to drop: reduce without keepdims, no Reshape needed.
      if (axes.length === lead) return b.op("ReduceSum", [g, b.ints(axes)], { keepdims: 0 });
      const summed = b.op("ReduceSum", [g, b.ints(axes)], { keepdims: 1 });
      if (lead === 0) return summed;
      return b.op("Reshape", [summed, shapeOf(x)]);
    },
    countRatio(x, y) {
      const xn = staticSize(shape(x));
      const yn = staticSize(shape(y));
      if (xn !== undefined && yn !== undefined) return scalar(xn / yn, x);
      const dtype = type(x).dtype;
      const nx = b.op("Cast", [b.op("Size", [x])], { to: dtype });
      const ny = b.op("Cast", [b.op("Size", [y])], { to: dtype });
      return b.op("Div", [nx, ny]);
    },
    forwardOutput(index) {
      while (node.outputs.length <= index) node.outputs.push("");
      if (!node.outputs[index]) {
        const name = b.graph.fresh(`${node.outputs[0]}/out${index}`);
        node.outputs[index] = name;
      }
      return node.outputs[index];
    },
  };
}
