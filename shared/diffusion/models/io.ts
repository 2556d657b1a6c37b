import type * as ort from "onnxruntime-node";
import type { ModelProto, ValueInfoProto } from "../../ml/onnx/index.js";
import { DataType } from "../../ml/onnx/index.js";
import { float16ToFloat32, float32ToFloat16 } from "./float16.js";

/** Element types a component input or output may have here. */
export type ElementType = "float32" | "float16" | "float64" | "int32" | "int64";

/**
 * One input or output of an ONNX component as its session declares it: name, element type and shape (numbers
 * for fixed sizes, strings for symbolic ones; `[]` for a scalar).
 */
export interface TensorSpec {
  readonly name: string;
  readonly type: ElementType;
  readonly shape: readonly (number | string)[];
}

/** The inputs and outputs of a component, in declaration order. */
export interface ComponentIo {
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
}

const SUPPORTED = new Set<string>(["float32", "float16", "float64", "int32", "int64"]);

function elementType(type: string, where: string): ElementType {
  if (!SUPPORTED.has(type)) throw new TypeError(`${where} has element type ${type}, which is not supported`);
  return type as ElementType;
}

/**
 * Input and output specs from onnxruntime's session metadata (`inputMetadata` / `outputMetadata`, available
 * since onnxruntime-node 1.21), or undefined when this binding does not expose them. onnxruntime reports an
 * unknown rank as `[]` too; such values are treated as scalars.
 */
export function ioFromSession(session: ort.InferenceSession, who: string): ComponentIo | undefined {
  const meta = session as Partial<Pick<ort.InferenceSession, "inputMetadata" | "outputMetadata">>;
  if (!meta.inputMetadata || !meta.outputMetadata) return undefined;
  if (meta.inputMetadata.length !== session.inputNames.length) return undefined;
  const convert = (m: ort.InferenceSession.ValueMetadata, kind: string): TensorSpec => {
    if (!m.isTensor) throw new TypeError(`${who}: ${kind} ${m.name} is not a tensor`);
    return { name: m.name, type: elementType(m.type, `${who} ${kind} ${m.name}`), shape: [...m.shape] };
  };
  return {
    inputs: meta.inputMetadata.map((m) => convert(m, "input")),
    outputs: meta.outputMetadata.map((m) => convert(m, "output")),
  };
}

const PROTO_TYPES: Partial<Record<number, ElementType>> = {
  [DataType.FLOAT]: "float32",
  [DataType.FLOAT16]: "float16",
  [DataType.DOUBLE]: "float64",
  [DataType.INT32]: "int32",
  [DataType.INT64]: "int64",
};

/**
 * Input and output specs read from the model itself (graph inputs that are not initializers, and outputs):
 * the fallback for bindings without session metadata.
 */
export function ioFromModel(model: ModelProto, who: string): ComponentIo {
  const initializers = new Set(model.graph.initializer.map((t) => t.name));
  const convert = (v: ValueInfoProto, kind: string): TensorSpec => {
    const tt = v.type?.tensorType;
    const type = tt ? PROTO_TYPES[tt.elemType] : undefined;
    if (!type) throw new TypeError(`${who}: ${kind} ${v.name} has an unsupported type`);
    const shape = (tt?.shape?.dim ?? []).map((d, i) => d.dimValue ?? d.dimParam ?? `${v.name}_${i}`);
    return { name: v.name, type, shape };
  };
  return {
    inputs: model.graph.input.filter((v) => !initializers.has(v.name)).map((v) => convert(v, "input")),
    outputs: model.graph.output.map((v) => convert(v, "output")),
  };
}

/** Values a caller feeds: floats for floating-point inputs, integers for integer inputs. */
export type FeedData = Float32Array | Int32Array | readonly number[];

/** Converts host values to the typed array an input of `type` needs (float16 as binary16 bits). */
export function castForInput(data: FeedData, type: ElementType): ort.Tensor.DataTypeMap[ort.Tensor.Type] {
  switch (type) {
    case "float32":
      return data instanceof Float32Array ? data : Float32Array.from(data);
    case "float16":
      return float32ToFloat16(data);
    case "float64":
      return Float64Array.from(data);
    case "int32":
      return data instanceof Int32Array ? data : Int32Array.from(data, (v) => Math.trunc(v));
    case "int64":
      return BigInt64Array.from(data as ArrayLike<number>, (v) => BigInt(Math.trunc(v)));
  }
}

/** Converts an output tensor's data to float32 (float16 bits decoded; integers converted). */
export function outputAsFloat32(tensor: ort.Tensor): Float32Array {
  switch (tensor.type) {
    case "float32":
      return tensor.data as Float32Array;
    case "float16":
      // onnxruntime-node hands float16 out as binary16 bits; a binding with Float16Array gives numbers.
      return tensor.data instanceof Uint16Array
        ? float16ToFloat32(tensor.data)
        : Float32Array.from(tensor.data as ArrayLike<number>);
    case "float64":
      return Float32Array.from(tensor.data as Float64Array);
    case "int32":
      return Float32Array.from(tensor.data as Int32Array);
    case "int64":
      return Float32Array.from(tensor.data as BigInt64Array, (v) => Number(v));
    default:
      throw new TypeError(`output of type ${tensor.type} cannot be read as float32`);
  }
}

/** True for the floating-point element types. */
export function isFloatType(type: ElementType): boolean {
  return type === "float32" || type === "float16" || type === "float64";
}
