import type {
  AttributeProto,
  GraphProto,
  ModelProto,
  NodeProto,
  StringStringEntry,
  TensorProto,
  TypeProto,
  Unknown,
  ValueInfoProto,
} from "./types.js";
import { FIXED32, ProtoWriter, VARINT } from "./wire.js";

// Field numbers are those of onnx.proto. Proto2 `repeated` scalars without [packed = true] are written
// unpacked (dims, ints, floats), the packed ones (float_data, int64_data, …) packed, as protoc would.

function unknown(w: ProtoWriter, m: Unknown): void {
  for (const bytes of m.unknownFields ?? []) w.raw(bytes);
}

function entry(w: ProtoWriter, e: StringStringEntry): void {
  w.string(1, e.key).string(2, e.value);
}

function optionalString(w: ProtoWriter, field: number, value: string | undefined): void {
  if (value) w.string(field, value);
}

/** Writes a TensorProto's fields into `w`. */
function writeTensor(w: ProtoWriter, t: TensorProto): void {
  for (const d of t.dims) w.int64(1, d);
  w.int64(2, t.dataType);
  if (t.floatData) w.packedFloats(4, t.floatData);
  if (t.int32Data) w.packedVarints(5, t.int32Data);
  for (const s of t.stringData ?? []) w.bytes(6, s);
  if (t.int64Data) w.packedVarints(7, t.int64Data);
  optionalString(w, 8, t.name);
  if (t.rawData) w.bytes(9, t.rawData);
  if (t.doubleData) w.packedDoubles(10, t.doubleData);
  if (t.uint64Data) w.packedVarints(11, t.uint64Data);
  optionalString(w, 12, t.docString);
  for (const e of t.externalData ?? []) w.message(13, (m) => entry(m, e));
  if (t.dataLocation !== undefined) w.int64(14, t.dataLocation);
  unknown(w, t);
}

function writeAttribute(w: ProtoWriter, a: AttributeProto): void {
  w.string(1, a.name);
  if (a.f !== undefined) w.float(2, a.f);
  if (a.i !== undefined) w.int64(3, a.i);
  if (a.s !== undefined) w.bytes(4, a.s);
  if (a.t !== undefined) {
    const t = a.t;
    w.message(5, (m) => writeTensor(m, t));
  }
  if (a.g !== undefined) {
    const g = a.g;
    w.message(6, (m) => writeGraph(m, g));
  }
  for (const f of a.floats ?? []) w.tag(7, FIXED32).raw(float32Bytes(f));
  for (const i of a.ints ?? []) w.tag(8, VARINT).varint(i);
  for (const s of a.strings ?? []) w.bytes(9, s);
  for (const t of a.tensors ?? []) w.message(10, (m) => writeTensor(m, t));
  for (const g of a.graphs ?? []) w.message(11, (m) => writeGraph(m, g));
  optionalString(w, 13, a.docString);
  w.int64(20, a.type);
  optionalString(w, 21, a.refAttrName);
  unknown(w, a);
}

function float32Bytes(f: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setFloat32(0, f, true);
  return b;
}

function writeNode(w: ProtoWriter, n: NodeProto): void {
  for (const i of n.input) w.string(1, i);
  for (const o of n.output) w.string(2, o);
  optionalString(w, 3, n.name);
  w.string(4, n.opType);
  for (const a of n.attribute) w.message(5, (m) => writeAttribute(m, a));
  optionalString(w, 6, n.docString);
  optionalString(w, 7, n.domain);
  unknown(w, n);
}

function writeType(w: ProtoWriter, t: TypeProto): void {
  if (t.tensorType) {
    const tt = t.tensorType;
    w.message(1, (m) => {
      m.int64(1, tt.elemType);
      if (tt.shape) {
        const shape = tt.shape;
        m.message(2, (s) => {
          for (const d of shape.dim) {
            s.message(1, (dm) => {
              if (d.dimValue !== undefined) dm.int64(1, d.dimValue);
              else if (d.dimParam !== undefined) dm.string(2, d.dimParam);
              optionalString(dm, 3, d.denotation);
            });
          }
        });
      }
    });
  }
  optionalString(w, 6, t.denotation);
  unknown(w, t);
}

function writeValueInfo(w: ProtoWriter, v: ValueInfoProto): void {
  w.string(1, v.name);
  if (v.type) {
    const type = v.type;
    w.message(2, (m) => writeType(m, type));
  }
  optionalString(w, 3, v.docString);
  unknown(w, v);
}

function writeGraph(w: ProtoWriter, g: GraphProto): void {
  for (const n of g.node) w.message(1, (m) => writeNode(m, n));
  optionalString(w, 2, g.name);
  for (const t of g.initializer) w.message(5, (m) => writeTensor(m, t));
  optionalString(w, 10, g.docString);
  for (const v of g.input) w.message(11, (m) => writeValueInfo(m, v));
  for (const v of g.output) w.message(12, (m) => writeValueInfo(m, v));
  for (const v of g.valueInfo) w.message(13, (m) => writeValueInfo(m, v));
  unknown(w, g);
}

/** Serializes a ModelProto to protobuf bytes, loadable by onnxruntime. */
export function encodeModel(model: ModelProto): Uint8Array {
  const w = new ProtoWriter();
  w.int64(1, model.irVersion);
  optionalString(w, 2, model.producerName);
  optionalString(w, 3, model.producerVersion);
  optionalString(w, 4, model.domain);
  if (model.modelVersion) w.int64(5, model.modelVersion);
  optionalString(w, 6, model.docString);
  w.message(7, (m) => writeGraph(m, model.graph));
  for (const o of model.opsetImport) {
    w.message(8, (m) => {
      if (o.domain) m.string(1, o.domain);
      m.int64(2, o.version);
    });
  }
  for (const e of model.metadataProps) w.message(14, (m) => entry(m, e));
  unknown(w, model);
  return w.finish();
}

/** Serializes a lone TensorProto (useful for tests and for tools that store tensors as .pb). */
export function encodeTensor(t: TensorProto): Uint8Array {
  const w = new ProtoWriter();
  writeTensor(w, t);
  return w.finish();
}
