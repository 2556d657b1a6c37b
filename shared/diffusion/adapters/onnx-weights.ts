import { open } from "node:fs/promises";
import { dirname, join, normalize } from "node:path";
import type { DataType, ModelProto, NodeProto, TensorProto } from "../../ml/onnx/index.js";
import { DataType as DT, numel } from "../../ml/onnx/index.js";
import { float16ToFloat32, float32ToFloat16 } from "../models/float16.js";

/**
 * How a module's weight is stored in the ONNX graph:
 * - "out_in": torch's Linear layout [out, in] (Gemm with transB = 1, or a Transpose before MatMul);
 * - "in_out": Wᵀ [in, out], what the TorchScript exporter folds for MatMul;
 * - "conv": Conv weights [out, in, kh, kw];
 * - "embedding": a Gather table [rows, dim].
 */
export type WeightLayout = "out_in" | "in_out" | "conv" | "embedding";

/** Where a module's weight lives in a model. */
export interface WeightRef {
  /** Module path, torch style: `down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q`. */
  readonly module: string;
  readonly initializer: string;
  readonly layout: WeightLayout;
  readonly dims: readonly number[];
}

const PASS_THROUGH = new Set(["Cast", "Identity"]);

/** The module path a torch-exported node name encodes: `/a.0/b/to_q/MatMul` → `a.0.b.to_q`. */
export function moduleFromNodeName(name: string): string | undefined {
  if (!name.startsWith("/")) return undefined;
  const parts = name.slice(1).split("/");
  if (parts.length < 2) return undefined;
  return parts.slice(0, -1).join(".");
}

/** The module path of a named weight initializer: `a.b.to_q.weight` → `a.b.to_q`; anonymous names give none. */
export function moduleFromInitializerName(name: string): string | undefined {
  if (name.startsWith("onnx::") || !name.endsWith(".weight")) return undefined;
  return name.slice(0, -".weight".length);
}

/**
 * Indexes the Linear, Conv and embedding weights of a model by torch module path, for merging adapters.
 * Supported: weights reached from a MatMul / Gemm / Conv / Gather input through Cast, Identity and 2-D
 * Transpose nodes, named either by the initializer (`<module>.weight`) or, for anonymous initializers
 * (`onnx::MatMul_1234`), by the consuming node's name (`/<module path>/MatMul`, as torch.onnx names nodes).
 * Not supported: weights fused into other ops (onnxruntime transformer-optimized `Attention` / packed QKV,
 * quantized MatMulNBits) — such modules are simply absent from the index.
 */
export function indexModuleWeights(model: ModelProto): Map<string, WeightRef> {
  const initializers = new Map(model.graph.initializer.map((t) => [t.name, t]));
  const producers = new Map<string, NodeProto>();
  for (const n of model.graph.node) for (const o of n.output) if (o) producers.set(o, n);
  const index = new Map<string, WeightRef>();
  const trace = (value: string): { init: TensorProto; transposed: boolean } | undefined => {
    let transposed = false;
    let current = value;
    for (let hops = 0; hops < 4; hops++) {
      const init = initializers.get(current);
      if (init) return { init, transposed };
      const node = producers.get(current);
      if (!node) return undefined;
      if (node.opType === "Transpose") {
        const perm = node.attribute.find((a) => a.name === "perm")?.ints?.map(Number);
        if (perm && !(perm.length === 2 && perm[0] === 1 && perm[1] === 0)) return undefined;
        transposed = !transposed;
      } else if (!PASS_THROUGH.has(node.opType)) return undefined;
      current = node.input[0];
    }
    return undefined;
  };
  const add = (node: NodeProto, init: TensorProto, layout: WeightLayout) => {
    const module = moduleFromInitializerName(init.name) ?? moduleFromNodeName(node.name);
    if (module && !index.has(module))
      index.set(module, { module, initializer: init.name, layout, dims: init.dims });
  };
  for (const node of model.graph.node) {
    if (node.domain !== "" && node.domain !== "ai.onnx") continue;
    if (node.opType === "MatMul" || node.opType === "Gemm") {
      const found = node.input[1] ? trace(node.input[1]) : undefined;
      if (found?.init.dims.length !== 2) continue;
      const transB =
        node.opType === "Gemm" && Number(node.attribute.find((a) => a.name === "transB")?.i ?? 0) === 1;
      add(node, found.init, transB !== found.transposed ? "out_in" : "in_out");
    } else if (node.opType === "Conv") {
      const found = node.input[1] ? trace(node.input[1]) : undefined;
      if (found && !found.transposed && found.init.dims.length === 4) add(node, found.init, "conv");
    } else if (node.opType === "Gather") {
      const found = trace(node.input[0]);
      const axis = Number(node.attribute.find((a) => a.name === "axis")?.i ?? 0);
      if (found && !found.transposed && axis === 0 && found.init.dims.length === 2)
        add(node, found.init, "embedding");
    }
  }
  return index;
}

/** The float32 values of a float initializer (float32, float16 or float64; inline or external data). */
export async function readFloatInitializer(tensor: TensorProto, modelPath: string): Promise<Float32Array> {
  const bytes = await initializerBytes(tensor, modelPath);
  const n = numel(tensor.dims);
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  switch (tensor.dataType as DataType) {
    case DT.FLOAT:
      return new Float32Array(copy.buffer, 0, n);
    case DT.FLOAT16:
      return float16ToFloat32(new Uint16Array(copy.buffer, 0, n));
    case DT.DOUBLE:
      return Float32Array.from(new Float64Array(copy.buffer, 0, n));
    default:
      throw new Error(`initializer ${tensor.name} has data type ${tensor.dataType}, not a float type`);
  }
}

/** The raw little-endian bytes of an initializer: raw_data, float_data, or its range of an external file. */
async function initializerBytes(tensor: TensorProto, modelPath: string): Promise<Uint8Array> {
  if (tensor.rawData && tensor.dataLocation !== 1) return tensor.rawData;
  if (tensor.floatData) return new Uint8Array(Float32Array.from(tensor.floatData).buffer);
  if (tensor.dataLocation === 1 || tensor.externalData?.length) {
    const entries = new Map((tensor.externalData ?? []).map((e) => [e.key, e.value]));
    const location = entries.get("location");
    if (!location) throw new Error(`initializer ${tensor.name}: external data without a location`);
    const relative = normalize(location);
    if (relative.startsWith("..") || relative.startsWith("/")) {
      throw new Error(`initializer ${tensor.name}: external data path ${location} leaves the model folder`);
    }
    const offset = Number(entries.get("offset") ?? 0);
    const elementBytes = tensor.dataType === DT.FLOAT16 ? 2 : tensor.dataType === DT.DOUBLE ? 8 : 4;
    const length = Number(entries.get("length") ?? numel(tensor.dims) * elementBytes);
    const file = await open(join(dirname(modelPath), relative), "r");
    try {
      const out = new Uint8Array(length);
      const { bytesRead } = await file.read(out, 0, length, offset);
      if (bytesRead !== length)
        throw new Error(`initializer ${tensor.name}: external data file is too short`);
      return out;
    } finally {
      await file.close();
    }
  }
  throw new Error(`initializer ${tensor.name} has no data this reader understands`);
}

/** A float initializer with new float32 values, stored inline in the tensor's own data type. */
export function floatInitializer(
  like: TensorProto,
  values: Float32Array,
  dims: readonly number[] = like.dims,
): TensorProto {
  let raw: Uint8Array;
  switch (like.dataType as DataType) {
    case DT.FLOAT:
      raw = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
      break;
    case DT.FLOAT16:
      raw = new Uint8Array(float32ToFloat16(values).buffer);
      break;
    case DT.DOUBLE:
      raw = new Uint8Array(Float64Array.from(values).buffer);
      break;
    default:
      throw new Error(`initializer ${like.name} is not a float tensor`);
  }
  return { name: like.name, dataType: like.dataType, dims: [...dims], rawData: raw };
}

/** A copy of `model` with some initializers replaced (by name); everything else is shared. */
export function replaceInitializers(
  model: ModelProto,
  replacements: ReadonlyMap<string, TensorProto>,
): ModelProto {
  return {
    ...model,
    graph: {
      ...model.graph,
      initializer: model.graph.initializer.map((t) => replacements.get(t.name) ?? t),
    },
  };
}
