import { DataType, type TensorProto } from "./types.js";

/** The typed arrays tensors are held in. FLOAT16/BFLOAT16 are stored as their bits in a Uint16Array. */
export type TypedArray =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array;

/** A dense tensor: element type, shape and row-major data. */
export interface Tensor {
  dtype: DataType;
  dims: number[];
  data: TypedArray;
}

interface DTypeInfo {
  bytes: number;
  make: (n: number) => TypedArray;
}

const info: Partial<Record<DataType, DTypeInfo>> = {
  [DataType.FLOAT]: {
    bytes: 4,
    make: (n) => new Float32Array(n),
  },
  [DataType.DOUBLE]: {
    bytes: 8,
    make: (n) => new Float64Array(n),
  },
  [DataType.INT8]: { bytes: 1, make: (n) => new Int8Array(n) },
  [DataType.UINT8]: { bytes: 1, make: (n) => new Uint8Array(n) },
  [DataType.BOOL]: { bytes: 1, make: (n) => new Uint8Array(n) },
  [DataType.INT16]: { bytes: 2, make: (n) => new Int16Array(n) },
  [DataType.UINT16]: {
    bytes: 2,
    make: (n) => new Uint16Array(n),
  },
  [DataType.FLOAT16]: {
    bytes: 2,
    make: (n) => new Uint16Array(n),
  },
  [DataType.BFLOAT16]: {
    bytes: 2,
    make: (n) => new Uint16Array(n),
  },
  [DataType.INT32]: { bytes: 4, make: (n) => new Int32Array(n) },
  [DataType.UINT32]: {
    bytes: 4,
    make: (n) => new Uint32Array(n),
  },
  [DataType.INT64]: {
    bytes: 8,
    make: (n) => new BigInt64Array(n),
  },
  [DataType.UINT64]: {
    bytes: 8,
    make: (n) => new BigUint64Array(n),
  },
};

function dtypeInfo(dtype: number): DTypeInfo {
  const i = info[dtype as DataType];
  if (!i) throw new Error(`unsupported tensor data type ${dtype}`);
  return i;
}

/** Bytes per element of a data type. */
export function dtypeSize(dtype: DataType): number {
  return dtypeInfo(dtype).bytes;
}

/** A zero-filled typed array for `n` elements of `dtype`. */
export function allocate(dtype: DataType, n: number): TypedArray {
  return dtypeInfo(dtype).make(n);
}

/** Number of elements of a shape. */
export function numel(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

/** A float32 tensor. */
export function f32(dims: number[], data?: ArrayLike<number>): Tensor {
  const out = new Float32Array(numel(dims));
  if (data) out.set(data);
  return { dtype: DataType.FLOAT, dims, data: out };
}

/** A float64 tensor. */
export function f64(dims: number[], data?: ArrayLike<number>): Tensor {
  const out = new Float64Array(numel(dims));
  if (data) out.set(data);
  return { dtype: DataType.DOUBLE, dims, data: out };
}

/** An int64 tensor from numbers. */
export function i64(dims: number[], data: ArrayLike<number | bigint>): Tensor {
  const out = new BigInt64Array(numel(dims));
  for (let i = 0; i < out.length; i++) out[i] = BigInt(data[i]);
  return { dtype: DataType.INT64, dims, data: out };
}

/** The little-endian bytes of a typed array (a view, no copy). */
export function bytesOf(data: TypedArray): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** Encodes a tensor as a TensorProto with raw_data (a view of the tensor's memory). */
export function tensorToProto(name: string, t: Tensor): TensorProto {
  const expected = numel(t.dims);
  if (t.data.length !== expected) {
    throw new Error(`tensor ${name}: ${t.data.length} elements for dims [${t.dims}] (${expected})`);
  }
  return { name, dataType: t.dtype, dims: [...t.dims], rawData: bytesOf(t.data) };
}

/** Decodes a TensorProto's data (raw_data or the typed repeated fields). Always returns a fresh array. */
export function tensorFromProto(p: TensorProto): Tensor {
  if (p.dataLocation === 1 || (p.externalData && p.externalData.length > 0)) {
    throw new Error(`tensor ${p.name}: external data is not supported; re-export with weights inline`);
  }
  const dtype = p.dataType as DataType;
  const { bytes, make } = dtypeInfo(dtype);
  const n = numel(p.dims);
  const out = make(n);
  if (p.rawData) {
    if (p.rawData.length !== n * bytes) {
      throw new Error(`tensor ${p.name}: raw_data holds ${p.rawData.length} bytes, expected ${n * bytes}`);
    }
    // Copy through bytes: raw_data views may be unaligned for the element type.
    bytesOf(out).set(p.rawData);
    return { dtype, dims: [...p.dims], data: out };
  }
  const source: ArrayLike<number | bigint> | undefined =
    p.floatData ?? p.doubleData ?? p.int32Data ?? p.int64Data ?? p.uint64Data;
  if (!source) {
    if (n === 0) return { dtype, dims: [...p.dims], data: out };
    throw new Error(`tensor ${p.name}: no data`);
  }
  if (source.length !== n) throw new Error(`tensor ${p.name}: ${source.length} values for ${n} elements`);
  if (out instanceof BigInt64Array || out instanceof BigUint64Array) {
    for (let i = 0; i < n; i++) out[i] = BigInt(source[i]);
  } else if (p.int32Data && (dtype === DataType.FLOAT16 || dtype === DataType.BFLOAT16)) {
    // float16 bits travel in int32_data.
    for (let i = 0; i < n; i++) out[i] = Number(source[i]) & 0xffff;
  } else {
    for (let i = 0; i < n; i++) out[i] = Number(source[i]);
  }
  return { dtype, dims: [...p.dims], data: out };
}
