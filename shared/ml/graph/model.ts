import { type Tensor, tensorFromProto, tensorToProto } from "../onnx/tensor.js";
import {
  type AttributeProto,
  AttributeType,
  DataType,
  type ModelProto,
  type NodeProto,
  type ValueInfoProto,
} from "../onnx/types.js";
import { inferTypes, isUnknownDim } from "./infer.js";
import { type Attribute, type Dim, Graph, type ValueInfo } from "./ir.js";

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder();

/** How `toModel` writes parameters. */
export interface ToModelOptions {
  /**
   * "initializers" for inference (onnxruntime pre-packs constant weights), "inputs" for training (the
   * trainer feeds them and takes updated values from the outputs).
   */
  weightsAs?: "initializers" | "inputs";
  /** With weightsAs "inputs": which parameters become inputs (default: all); the rest stay initializers. */
  feed?: Iterable<string>;
  /** Also write inferred types of intermediate values as value_info. */
  valueInfo?: boolean;
  producerName?: string;
}

function valueInfoProto(v: ValueInfo): ValueInfoProto {
  return {
    name: v.name,
    type: {
      tensorType: {
        elemType: v.dtype,
        shape: v.shape && {
          dim: v.shape.map((d: Dim) =>
            typeof d === "number" ? { dimValue: d } : isUnknownDim(d) ? {} : { dimParam: d },
          ),
        },
      },
    },
  };
}

function attributeProto(name: string, a: Attribute): AttributeProto {
  switch (a.kind) {
    case "int":
      return { name, type: AttributeType.INT, i: a.value };
    case "float":
      return { name, type: AttributeType.FLOAT, f: a.value };
    case "string":
      return { name, type: AttributeType.STRING, s: utf8.encode(a.value) };
    case "ints":
      return { name, type: AttributeType.INTS, ints: a.value };
    case "floats":
      return { name, type: AttributeType.FLOATS, floats: a.value };
    case "strings":
      return { name, type: AttributeType.STRINGS, strings: a.value.map((s) => utf8.encode(s)) };
    case "tensor":
      return { name, type: AttributeType.TENSOR, t: tensorToProto("", a.value) };
    case "graph":
      return { name, type: AttributeType.GRAPH, g: a.value };
  }
}

function attributeFromProto(a: AttributeProto): Attribute {
  switch (a.type) {
    case AttributeType.INT:
      return { kind: "int", value: a.i ?? 0 };
    case AttributeType.FLOAT:
      return { kind: "float", value: a.f ?? 0 };
    case AttributeType.STRING:
      return { kind: "string", value: utf8Decoder.decode(a.s ?? new Uint8Array()) };
    case AttributeType.INTS:
      return { kind: "ints", value: a.ints ?? [] };
    case AttributeType.FLOATS:
      return { kind: "floats", value: a.floats ?? [] };
    case AttributeType.STRINGS:
      return { kind: "strings", value: (a.strings ?? []).map((s) => utf8Decoder.decode(s)) };
    case AttributeType.TENSOR:
      if (!a.t) throw new Error(`attribute ${a.name}: tensor missing`);
      return { kind: "tensor", value: tensorFromProto(a.t) };
    case AttributeType.GRAPH:
      if (!a.g) throw new Error(`attribute ${a.name}: graph missing`);
      return { kind: "graph", value: a.g };
    default:
      throw new Error(`attribute ${a.name}: unsupported attribute type ${a.type}`);
  }
}

/** Converts a graph to a ModelProto (IR 10, the graph's opsets), ready for `encodeModel`. */
export function toModel(graph: Graph, options: ToModelOptions = {}): ModelProto {
  const asInputs = options.weightsAs === "inputs";
  const feed = asInputs ? new Set(options.feed ?? graph.params) : new Set<string>();
  for (const name of feed) {
    if (!graph.params.has(name)) throw new Error(`toModel: ${name} is not a parameter of the graph`);
  }
  const needsTypes = options.valueInfo || graph.outputs.some((o) => o.dtype === DataType.UNDEFINED);
  const types = needsTypes ? inferTypes(graph) : undefined;
  const outputs = graph.outputs.map((o) => {
    if (o.dtype !== DataType.UNDEFINED) return o;
    const t = types?.get(o.name);
    if (!t) throw new Error(`toModel: cannot infer the type of output ${o.name}`);
    return { name: o.name, dtype: t.dtype, shape: o.shape ?? t.shape };
  });
  const inputs = [...graph.inputs];
  const initializer = [];
  for (const [name, t] of graph.initializers) {
    if (feed.has(name)) inputs.push({ name, dtype: t.dtype, shape: [...t.dims] });
    else initializer.push(tensorToProto(name, t));
  }
  const declared = new Set([...inputs.map((v) => v.name), ...outputs.map((v) => v.name)]);
  const valueInfo: ValueInfoProto[] = [];
  if (options.valueInfo && types) {
    for (const n of graph.nodes) {
      for (const o of n.outputs) {
        const t = types.get(o);
        if (o && t && !declared.has(o))
          valueInfo.push(valueInfoProto({ name: o, dtype: t.dtype, shape: t.shape }));
      }
    }
  }
  const node: NodeProto[] = graph.nodes.map((n) => ({
    input: n.inputs,
    output: n.outputs,
    name: n.name,
    opType: n.op,
    domain: n.domain,
    attribute: Object.entries(n.attrs).map(([k, a]) => attributeProto(k, a)),
  }));
  return {
    irVersion: 10,
    opsetImport: [...graph.opsets].map(([domain, version]) => ({ domain, version })),
    producerName: options.producerName ?? "diffda",
    producerVersion: "0.1",
    domain: "",
    modelVersion: 0,
    metadataProps: [...graph.metadata].map(([key, value]) => ({ key, value })),
    graph: {
      name: graph.name,
      node,
      initializer,
      input: inputs.map(valueInfoProto),
      output: outputs.map(valueInfoProto),
      valueInfo,
    },
  };
}

function valueInfoFromProto(v: ValueInfoProto): ValueInfo {
  const tt = v.type?.tensorType;
  let unknownDims = 0;
  return {
    name: v.name,
    dtype: (tt?.elemType ?? 0) as DataType,
    shape: tt?.shape?.dim.map((d) => d.dimValue ?? d.dimParam ?? `?${v.name}:${unknownDims++}`),
  };
}

const FLOAT_TYPES = new Set<number>([DataType.FLOAT, DataType.DOUBLE, DataType.FLOAT16, DataType.BFLOAT16]);

/**
 * Converts a decoded model to a graph. Floating-point initializers become parameters; integer ones are
 * constants. Inputs that are also initializers (old exporters list them) are treated as initializers.
 */
export function fromModel(model: ModelProto): Graph {
  const g = new Graph(model.graph.name || "graph");
  g.opsets = new Map(model.opsetImport.map((o) => [o.domain === "ai.onnx" ? "" : o.domain, o.version]));
  for (const e of model.metadataProps) g.metadata.set(e.key, e.value);
  for (const t of model.graph.initializer) {
    g.addInitializer(t.name, tensorFromProto(t), FLOAT_TYPES.has(t.dataType));
  }
  for (const v of model.graph.input) if (!g.initializers.has(v.name)) g.addInput(valueInfoFromProto(v));
  for (const v of model.graph.output) g.addOutput(valueInfoFromProto(v));
  for (const v of model.graph.valueInfo) g.valueInfo.set(v.name, valueInfoFromProto(v));
  for (const n of model.graph.node) {
    const attrs: Record<string, Attribute> = {};
    for (const a of n.attribute) attrs[a.name] = attributeFromProto(a);
    g.addNode({ op: n.opType, inputs: n.input, outputs: n.output, attrs, name: n.name, domain: n.domain });
  }
  return g;
}

/**
 * A copy of `graph` whose parameters take the given values (same dtype and shape as before), e.g. to build
 * an inference model from trained weights. Names not in the graph are an error.
 */
export function withParameters(graph: Graph, values: Map<string, Tensor> | Record<string, Tensor>): Graph {
  const g = graph.clone();
  for (const [name, t] of values instanceof Map ? values : Object.entries(values)) {
    const old = g.initializers.get(name);
    if (!old || !g.params.has(name)) throw new Error(`withParameters: ${name} is not a parameter`);
    if (old.dtype !== t.dtype || old.dims.join() !== t.dims.join()) {
      throw new Error(`withParameters: ${name} is [${t.dims}] (type ${t.dtype}), expected [${old.dims}]`);
    }
    g.initializers.set(name, t);
  }
  return g;
}
