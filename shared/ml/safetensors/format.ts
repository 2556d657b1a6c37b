import { bytesOf, numel, type Tensor, type TypedArray } from "../onnx/tensor.js";
import { DataType } from "../onnx/types.js";

/** safetensors dtype names ↔ ONNX data types, with element sizes. */
const DTYPES: Record<
  string,
  { dtype: DataType; size: number; make: (b: ArrayBuffer, o: number, n: number) => TypedArray }
> = {
  F64: { dtype: DataType.DOUBLE, size: 8, make: (b, o, n) => new Float64Array(b, o, n) },
  F32: { dtype: DataType.FLOAT, size: 4, make: (b, o, n) => new Float32Array(b, o, n) },
  F16: { dtype: DataType.FLOAT16, size: 2, make: (b, o, n) => new Uint16Array(b, o, n) },
  BF16: { dtype: DataType.BFLOAT16, size: 2, make: (b, o, n) => new Uint16Array(b, o, n) },
  I64: { dtype: DataType.INT64, size: 8, make: (b, o, n) => new BigInt64Array(b, o, n) },
  U64: { dtype: DataType.UINT64, size: 8, make: (b, o, n) => new BigUint64Array(b, o, n) },
  I32: { dtype: DataType.INT32, size: 4, make: (b, o, n) => new Int32Array(b, o, n) },
  U32: { dtype: DataType.UINT32, size: 4, make: (b, o, n) => new Uint32Array(b, o, n) },
  I16: { dtype: DataType.INT16, size: 2, make: (b, o, n) => new Int16Array(b, o, n) },
  U16: { dtype: DataType.UINT16, size: 2, make: (b, o, n) => new Uint16Array(b, o, n) },
  I8: { dtype: DataType.INT8, size: 1, make: (b, o, n) => new Int8Array(b, o, n) },
  U8: { dtype: DataType.UINT8, size: 1, make: (b, o, n) => new Uint8Array(b, o, n) },
  BOOL: { dtype: DataType.BOOL, size: 1, make: (b, o, n) => new Uint8Array(b, o, n) },
};
const NAME_OF = new Map<DataType, string>(Object.entries(DTYPES).map(([name, d]) => [d.dtype, name]));
const MAX_HEADER = 100 * 1024 * 1024;

export interface Safetensors {
  tensors: Map<string, Tensor>;
  /** The free-form string map stored under "__metadata__". */
  metadata: Record<string, string>;
}

/**
 * Serializes tensors in the safetensors format: u64 little-endian header length, a JSON header (padded with
 * spaces to 8 bytes) mapping names to dtype, shape and data_offsets, then the raw little-endian data.
 * Tensors are laid out by decreasing element size then name, so each one is aligned.
 */
export function encodeSafetensors(
  tensors: Map<string, Tensor> | Record<string, Tensor>,
  metadata?: Record<string, string>,
): Uint8Array {
  const entries = [...(tensors instanceof Map ? tensors : Object.entries(tensors))];
  const sized = entries.map(([name, t]) => {
    const type = NAME_OF.get(t.dtype);
    if (!type) throw new Error(`safetensors: data type ${t.dtype} of ${name} is not supported`);
    if (t.data.length !== numel(t.dims))
      throw new Error(`safetensors: ${name} has ${t.data.length} elements for [${t.dims}]`);
    if (name === "__metadata__") throw new Error("safetensors: a tensor cannot be named __metadata__");
    return { name, t, type, size: DTYPES[type].size };
  });
  sized.sort((a, b) => b.size - a.size || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const { name, t, type } of sized) {
    const bytes = t.data.byteLength;
    header[name] = { dtype: type, shape: t.dims, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(json);
    json = p;
  }
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const { t } of sized) {
    out.set(bytesOf(t.data), at);
    at += t.data.byteLength;
  }
  return out;
}

/**
 * Parses a safetensors buffer. Tensor data are views into `bytes` when aligned for their type, else copies.
 * Validates the header: sizes, shapes, offsets within the buffer, contiguous non-overlapping data.
 */
export function decodeSafetensors(bytes: Uint8Array): Safetensors {
  if (bytes.length < 8) throw new Error("safetensors: file shorter than its 8-byte header length");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (headerLength > MAX_HEADER || 8 + headerLength > bytes.length) {
    throw new Error(`safetensors: header length ${headerLength} is invalid for a ${bytes.length}-byte file`);
  }
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(
      new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + headerLength)),
    );
  } catch (e) {
    throw new Error(`safetensors: header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    throw new Error("safetensors: header is not a JSON object");
  }
  const dataStart = 8 + headerLength;
  const dataLength = bytes.length - dataStart;
  const metadata: Record<string, string> = {};
  const spans: [number, number, string][] = [];
  const tensors = new Map<string, Tensor>();
  for (const [name, raw] of Object.entries(header)) {
    if (name === "__metadata__") {
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== "string") throw new Error(`safetensors: metadata ${k} is not a string`);
        metadata[k] = v;
      }
      continue;
    }
    const info = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const type = typeof info.dtype === "string" ? DTYPES[info.dtype] : undefined;
    if (!type) throw new Error(`safetensors: ${name} has unsupported dtype ${String(info.dtype)}`);
    const shape = info.shape;
    const offsets = info.data_offsets;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new Error(`safetensors: ${name} has an invalid shape`);
    }
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((d) => Number.isSafeInteger(d) && d >= 0)
    ) {
      throw new Error(`safetensors: ${name} has invalid data_offsets`);
    }
    const [begin, end] = offsets as [number, number];
    const n = numel(shape as number[]);
    if (end < begin || end > dataLength || end - begin !== n * type.size) {
      throw new Error(
        `safetensors: ${name} data_offsets [${begin}, ${end}] do not fit ${n} × ${type.size} bytes`,
      );
    }
    spans.push([begin, end, name]);
    const absolute = bytes.byteOffset + dataStart + begin;
    const data =
      absolute % type.size === 0
        ? type.make(bytes.buffer as ArrayBuffer, absolute, n)
        : // Uint8Array's slice copies; a Node Buffer's own slice would return a view of the whole pool.
          type.make(Uint8Array.prototype.slice.call(bytes, dataStart + begin, dataStart + end).buffer, 0, n);
    tensors.set(name, { dtype: type.dtype, dims: [...(shape as number[])], data });
  }
  spans.sort((a, b) => a[0] - b[0]);
  let expected = 0;
  for (const [begin, end, name] of spans) {
    if (begin !== expected)
      throw new Error(`safetensors: data of ${name} is not contiguous with the previous tensor`);
    expected = end;
  }
  if (expected !== dataLength)
    throw new Error(`safetensors: ${dataLength - expected} trailing bytes after the data`);
  return { tensors, metadata };
}
