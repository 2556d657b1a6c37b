import * as ort from "onnxruntime-node";
import type { Tensor, TypedArray } from "../onnx/tensor.js";
import { DataType } from "../onnx/types.js";

const ORT_TYPES: Partial<Record<DataType, ort.Tensor.Type>> = {
  [DataType.FLOAT]: "float32",
  [DataType.DOUBLE]: "float64",
  [DataType.INT8]: "int8",
  [DataType.UINT8]: "uint8",
  [DataType.INT16]: "int16",
  [DataType.UINT16]: "uint16",
  [DataType.INT32]: "int32",
  [DataType.UINT32]: "uint32",
  [DataType.INT64]: "int64",
  [DataType.UINT64]: "uint64",
  [DataType.BOOL]: "bool",
  [DataType.FLOAT16]: "float16",
};

const FROM_ORT = new Map<string, DataType>(
  Object.entries(ORT_TYPES).map(([k, v]) => [v as string, Number(k) as DataType]),
);

/** The onnxruntime type name of an ONNX data type. */
export function ortType(dtype: DataType): ort.Tensor.Type {
  const t = ORT_TYPES[dtype];
  if (!t) throw new Error(`no onnxruntime tensor type for data type ${dtype}`);
  return t;
}

/** The ONNX data type of an onnxruntime type name. */
export function dataTypeOf(type: string): DataType {
  const t = FROM_ORT.get(type);
  if (t === undefined) throw new Error(`unsupported onnxruntime tensor type ${type}`);
  return t;
}

/** Wraps a tensor for onnxruntime without copying its data. */
export function toOrt(t: Tensor): ort.Tensor {
  return new ort.Tensor(ortType(t.dtype), t.data as ort.Tensor.DataTypeMap[ort.Tensor.Type], t.dims);
}

/** Unwraps an onnxruntime tensor without copying its data. */
export function fromOrt(t: ort.Tensor): Tensor {
  return { dtype: dataTypeOf(t.type), dims: [...t.dims], data: t.data as TypedArray };
}
