/** The graph IR, its builder, static type inference, and conversion to and from ONNX ModelProto. */
export { GraphBuilder, type OpOptions } from "./builder.js";
export { countFlops, type FlopCount, specialize } from "./flops.js";
export {
  type Constants,
  graphConstants,
  inferTypes,
  isUnknownDim,
  sliceRange,
  type ValueType,
} from "./infer.js";
export {
  type AttrInput,
  type Attribute,
  attrFloat,
  attrInt,
  attrInts,
  attrString,
  type Dim,
  Graph,
  type Node,
  toAttribute,
  type ValueInfo,
} from "./ir.js";
export { fromModel, type ToModelOptions, toModel, withParameters } from "./model.js";
export { insertAfter } from "./rewrite.js";
