/**
 * Plain-object mirror of the subset of onnx.proto diffda reads and writes. Field names follow the proto in
 * camelCase. Fields diffda does not model (functions, training info, sparse initializers, …) are kept as
 * raw bytes in `unknownFields` so a decoded model re-encodes without losing them.
 */

/** TensorProto.DataType values. */
export const DataType = {
  UNDEFINED: 0,
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13,
  BFLOAT16: 16,
} as const;
export type DataType = (typeof DataType)[keyof typeof DataType];

/** AttributeProto.AttributeType values. */
export const AttributeType = {
  UNDEFINED: 0,
  FLOAT: 1,
  INT: 2,
  STRING: 3,
  TENSOR: 4,
  GRAPH: 5,
  FLOATS: 6,
  INTS: 7,
  STRINGS: 8,
  TENSORS: 9,
  GRAPHS: 10,
} as const;
export type AttributeType = (typeof AttributeType)[keyof typeof AttributeType];

/** Raw bytes of fields the codec does not model, each including its tag. */
export interface Unknown {
  unknownFields?: Uint8Array[];
}

export interface StringStringEntry {
  key: string;
  value: string;
}

export interface TensorProto extends Unknown {
  name: string;
  dataType: number;
  dims: number[];
  rawData?: Uint8Array;
  floatData?: number[];
  int32Data?: number[];
  int64Data?: (number | bigint)[];
  doubleData?: number[];
  uint64Data?: (number | bigint)[];
  stringData?: Uint8Array[];
  externalData?: StringStringEntry[];
  dataLocation?: number;
  docString?: string;
}

export interface AttributeProto extends Unknown {
  name: string;
  type: number;
  f?: number;
  i?: number | bigint;
  s?: Uint8Array;
  t?: TensorProto;
  g?: GraphProto;
  floats?: number[];
  ints?: (number | bigint)[];
  strings?: Uint8Array[];
  tensors?: TensorProto[];
  graphs?: GraphProto[];
  refAttrName?: string;
  docString?: string;
}

export interface NodeProto extends Unknown {
  input: string[];
  output: string[];
  name: string;
  opType: string;
  domain: string;
  attribute: AttributeProto[];
  docString?: string;
}

export interface DimensionProto {
  dimValue?: number;
  dimParam?: string;
  denotation?: string;
}

export interface TensorShapeProto {
  dim: DimensionProto[];
}

export interface TypeProto extends Unknown {
  tensorType?: { elemType: number; shape?: TensorShapeProto };
  denotation?: string;
}

export interface ValueInfoProto extends Unknown {
  name: string;
  type?: TypeProto;
  docString?: string;
}

export interface GraphProto extends Unknown {
  name: string;
  node: NodeProto[];
  initializer: TensorProto[];
  input: ValueInfoProto[];
  output: ValueInfoProto[];
  valueInfo: ValueInfoProto[];
  docString?: string;
}

export interface OperatorSetId {
  domain: string;
  version: number;
}

export interface ModelProto extends Unknown {
  irVersion: number;
  opsetImport: OperatorSetId[];
  producerName: string;
  producerVersion: string;
  domain: string;
  modelVersion: number;
  docString?: string;
  graph: GraphProto;
  metadataProps: StringStringEntry[];
}
