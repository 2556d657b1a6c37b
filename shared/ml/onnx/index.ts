/** ONNX protobuf I/O: a hand-written wire-format codec for the subset of onnx.proto diffda uses. */
export { decodeModel, decodeTensor } from "./decode.js";
export { encodeModel, encodeTensor } from "./encode.js";
export {
  allocate,
  bytesOf,
  dtypeSize,
  f32,
  f64,
  i64,
  numel,
  type Tensor,
  type TypedArray,
  tensorFromProto,
  tensorToProto,
} from "./tensor.js";
export * from "./types.js";
export { ProtoReader, ProtoWriter } from "./wire.js";
