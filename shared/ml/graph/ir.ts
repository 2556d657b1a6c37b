import type { Tensor } from "../onnx/tensor.js";
import type { DataType, GraphProto } from "../onnx/types.js";

/** A tensor dimension: a size, or a symbol such as "batch". Symbols starting with "?" are unknown sizes. */
export type Dim = number | string;

/** An ONNX attribute value with its kind made explicit (ONNX distinguishes INT from FLOAT). */
export type Attribute =
  | { kind: "int"; value: number | bigint }
  | { kind: "float"; value: number }
  | { kind: "string"; value: string }
  | { kind: "ints"; value: (number | bigint)[] }
  | { kind: "floats"; value: number[] }
  | { kind: "strings"; value: string[] }
  | { kind: "tensor"; value: Tensor }
  | { kind: "graph"; value: GraphProto };

/** One operator application. An empty string in `inputs` is an omitted optional input. */
export interface Node {
  op: string;
  inputs: string[];
  outputs: string[];
  attrs: Record<string, Attribute>;
  name: string;
  domain: string;
}

/** A typed graph input or output. `shape` undefined means rank unknown. */
export interface ValueInfo {
  name: string;
  dtype: DataType;
  shape?: Dim[];
}

/**
 * A mutable ONNX graph: nodes in topological order, typed inputs and outputs, initializers as typed arrays.
 * `params` names the initializers that are model weights (saved, loaded, trained, or fed as inputs);
 * other initializers are constants (shapes, axes, scalars) that always stay in the graph.
 */
export class Graph {
  name: string;
  nodes: Node[] = [];
  inputs: ValueInfo[] = [];
  outputs: ValueInfo[] = [];
  initializers = new Map<string, Tensor>();
  params = new Set<string>();
  /** Type hints for intermediate values (from a decoded model's value_info). */
  valueInfo = new Map<string, ValueInfo>();
  /** Opset versions by domain ("" is the default ONNX domain). */
  opsets = new Map<string, number>([["", 21]]);
  /** ModelProto metadata_props carried through. */
  metadata = new Map<string, string>();
  #counter = 0;
  #taken: Set<string> | undefined;

  constructor(name = "graph") {
    this.name = name;
  }

  /** A value name not used anywhere in the graph, built from `hint`. */
  fresh(hint: string): string {
    if (!this.#taken) this.#taken = this.#allNames();
    for (;;) {
      const name = `${hint}_${this.#counter++}`;
      if (!this.#taken.has(name)) {
        this.#taken.add(name);
        return name;
      }
    }
  }

  /** Records externally chosen names so `fresh` never returns them. */
  reserve(name: string): void {
    this.#taken?.add(name);
  }

  #allNames(): Set<string> {
    const names = new Set<string>();
    for (const n of this.nodes) {
      for (const v of n.inputs) names.add(v);
      for (const v of n.outputs) names.add(v);
      if (n.name) names.add(n.name);
    }
    for (const v of this.inputs) names.add(v.name);
    for (const v of this.outputs) names.add(v.name);
    for (const k of this.initializers.keys()) names.add(k);
    return names;
  }

  /** Appends a node; returns it. */
  addNode(node: Node): Node {
    this.nodes.push(node);
    if (this.#taken) {
      for (const o of node.outputs) this.#taken.add(o);
      if (node.name) this.#taken.add(node.name);
    }
    return node;
  }

  /** Adds an initializer (a weight when `param` is true). */
  addInitializer(name: string, tensor: Tensor, param = false): void {
    this.initializers.set(name, tensor);
    if (param) this.params.add(name);
    this.#taken?.add(name);
  }

  /** Declares a graph input. */
  addInput(info: ValueInfo): void {
    this.inputs.push(info);
    this.#taken?.add(info.name);
  }

  /** Declares a graph output (type may be filled in by inference when written). */
  addOutput(info: ValueInfo): void {
    this.outputs.push(info);
  }

  /** Map from value name to the node producing it. */
  producers(): Map<string, Node> {
    const map = new Map<string, Node>();
    for (const n of this.nodes) for (const o of n.outputs) if (o) map.set(o, n);
    return map;
  }

  /** Map from value name to the nodes consuming it. */
  consumers(): Map<string, Node[]> {
    const map = new Map<string, Node[]>();
    for (const n of this.nodes) {
      for (const i of n.inputs) {
        if (!i) continue;
        let list = map.get(i);
        if (!list) map.set(i, (list = []));
        list.push(n);
      }
    }
    return map;
  }

  /** A structural copy: nodes, value lists and maps are new; tensors are shared (treat them as immutable). */
  clone(): Graph {
    const g = new Graph(this.name);
    g.nodes = this.nodes.map((n) => ({
      ...n,
      inputs: [...n.inputs],
      outputs: [...n.outputs],
      attrs: { ...n.attrs },
    }));
    g.inputs = this.inputs.map((v) => ({ ...v, shape: v.shape && [...v.shape] }));
    g.outputs = this.outputs.map((v) => ({ ...v, shape: v.shape && [...v.shape] }));
    g.initializers = new Map(this.initializers);
    g.params = new Set(this.params);
    g.valueInfo = new Map(this.valueInfo);
    g.opsets = new Map(this.opsets);
    g.metadata = new Map(this.metadata);
    g.#counter = this.#counter;
    return g;
  }
}

/** Attribute accessors with defaults, checking the kind. */
export function attrInt(node: Node, name: string, fallback: number): number;
export function attrInt(node: Node, name: string): number | undefined;
export function attrInt(node: Node, name: string, fallback?: number): number | undefined {
  const a = node.attrs[name];
  if (!a) return fallback;
  if (a.kind !== "int") throw new Error(`${node.op} ${node.name}: attribute ${name} is ${a.kind}, not int`);
  return Number(a.value);
}

/** A float attribute as onnxruntime sees it: rounded to float32, as AttributeProto stores it. */
export function attrFloat(node: Node, name: string, fallback: number): number {
  const a = node.attrs[name];
  if (!a) return Math.fround(fallback);
  if (a.kind !== "float")
    throw new Error(`${node.op} ${node.name}: attribute ${name} is ${a.kind}, not float`);
  return Math.fround(a.value);
}

export function attrInts(node: Node, name: string): number[] | undefined {
  const a = node.attrs[name];
  if (!a) return undefined;
  if (a.kind !== "ints") throw new Error(`${node.op} ${node.name}: attribute ${name} is ${a.kind}, not ints`);
  return a.value.map((v) => clampToNumber(v));
}

export function attrString(node: Node, name: string, fallback: string): string {
  const a = node.attrs[name];
  if (!a) return fallback;
  if (a.kind !== "string")
    throw new Error(`${node.op} ${node.name}: attribute ${name} is ${a.kind}, not string`);
  return a.value;
}

/** int64 extremes (INT64_MAX as "to the end" in Slice) become ±Infinity-safe large numbers. */
export function clampToNumber(v: number | bigint): number {
  if (typeof v === "number") return v;
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) return Number.MAX_SAFE_INTEGER;
  if (v < BigInt(Number.MIN_SAFE_INTEGER)) return Number.MIN_SAFE_INTEGER;
  return Number(v);
}

/** Attribute names whose values are floats in the standard ops (the rest of the numeric ones are ints). */
const FLOAT_ATTRIBUTES = new Set([
  "alpha",
  "beta",
  "bias",
  "cubic_coeff_a",
  "epsilon",
  "extrapolation_value",
  "gamma",
  "lambd",
  "momentum",
  "ratio",
  "scale",
  "seed",
  "spatial_scale",
  "value_float",
  "value_floats",
  "max",
  "min",
  "mean",
  "high",
  "low",
]);

/** What the builder accepts as an attribute value: plain JS values are given a kind by name and type. */
export type AttrInput = number | bigint | string | number[] | string[] | Tensor | Attribute;

function isAttribute(v: AttrInput): v is Attribute {
  return typeof v === "object" && v !== null && !Array.isArray(v) && "kind" in v;
}

/** Converts plain attribute values to kinded attributes (floats by the known float attribute names). */
export function toAttribute(name: string, v: AttrInput): Attribute {
  if (isAttribute(v)) return v;
  const isFloat = FLOAT_ATTRIBUTES.has(name);
  if (typeof v === "bigint") return { kind: "int", value: v };
  if (typeof v === "number") return isFloat ? { kind: "float", value: v } : { kind: "int", value: v };
  if (typeof v === "string") return { kind: "string", value: v };
  if (Array.isArray(v)) {
    if (v.length > 0 && typeof v[0] === "string") return { kind: "strings", value: v as string[] };
    return isFloat ? { kind: "floats", value: v as number[] } : { kind: "ints", value: v as number[] };
  }
  return { kind: "tensor", value: v };
}
