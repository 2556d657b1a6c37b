import type {
  AttributeProto,
  DimensionProto,
  GraphProto,
  ModelProto,
  NodeProto,
  OperatorSetId,
  StringStringEntry,
  TensorProto,
  TensorShapeProto,
  TypeProto,
  Unknown,
  ValueInfoProto,
} from "./types.js";
import { ProtoReader, type WireField } from "./wire.js";

// Field numbers are those of onnx.proto. Repeated scalars are accepted packed or unpacked, as protobuf
// parsers must. Unmodelled fields are kept verbatim in `unknownFields`.

function keep(r: ProtoReader, f: WireField, m: Unknown): void {
  r.skip(f.wireType);
  if (!m.unknownFields) m.unknownFields = [];
  m.unknownFields.push(r.buf.slice(f.start, r.pos));
}

function num(v: number | bigint): number {
  return typeof v === "bigint" ? Number(v) : v;
}

function readEntry(r: ProtoReader): StringStringEntry {
  const e: StringStringEntry = { key: "", value: "" };
  for (let f = r.next(); f; f = r.next()) {
    if (f.field === 1) e.key = r.string();
    else if (f.field === 2) e.value = r.string();
    else r.skip(f.wireType);
  }
  return e;
}

/** Reads a TensorProto from a reader positioned over its bytes. */
function readTensor(r: ProtoReader): TensorProto {
  const t: TensorProto = { name: "", dataType: 0, dims: [] };
  for (let f = r.next(); f; f = r.next()) {
    switch (f.field) {
      case 1: {
        const dims: (number | bigint)[] = [];
        r.repeatedVarints(f.wireType, dims);
        for (const d of dims) t.dims.push(num(d));
        break;
      }
      case 2:
        t.dataType = num(r.varint());
        break;
      case 4:
        r.repeatedFloats(f.wireType, (t.floatData ??= []));
        break;
      case 5: {
        const values: (number | bigint)[] = [];
        r.repeatedVarints(f.wireType, values);
        // int32 values are sign-extended to 64 bits on the wire.
        t.int32Data = (t.int32Data ?? []).concat(values.map((v) => Number(BigInt.asIntN(32, BigInt(v)))));
        break;
      }
      case 6:
        (t.stringData ??= []).push(r.bytes());
        break;
      case 7:
        r.repeatedVarints(f.wireType, (t.int64Data ??= []));
        break;
      case 8:
        t.name = r.string();
        break;
      case 9:
        t.rawData = r.bytes();
        break;
      case 10:
        r.repeatedDoubles(f.wireType, (t.doubleData ??= []));
        break;
      case 11: {
        const values: (number | bigint)[] = [];
        r.repeatedVarints(f.wireType, values);
        // uint64: undo the int64 sign interpretation of the reader.
        t.uint64Data = (t.uint64Data ?? []).concat(
          values.map((v) => (typeof v === "bigint" || v < 0 ? BigInt.asUintN(64, BigInt(v)) : v)),
        );
        break;
      }
      case 12:
        t.docString = r.string();
        break;
      case 13:
        (t.externalData ??= []).push(readEntry(r.sub()));
        break;
      case 14:
        t.dataLocation = num(r.varint());
        break;
      default:
        keep(r, f, t);
    }
  }
  return t;
}

function readAttribute(r: ProtoReader): AttributeProto {
  const a: AttributeProto = { name: "", type: 0 };
  for (let f = r.next(); f; f = r.next()) {
    switch (f.field) {
      case 1:
        a.name = r.string();
        break;
      case 2:
        a.f = r.float();
        break;
      case 3:
        a.i = r.varint();
        break;
      case 4:
        a.s = r.bytes();
        break;
      case 5:
        a.t = readTensor(r.sub());
        break;
      case 6:
        a.g = readGraph(r.sub());
        break;
      case 7:
        r.repeatedFloats(f.wireType, (a.floats ??= []));
        break;
      case 8:
        r.repeatedVarints(f.wireType, (a.ints ??= []));
        break;
      case 9:
        (a.strings ??= []).push(r.bytes());
        break;
      case 10:
        (a.tensors ??= []).push(readTensor(r.sub()));
        break;
      case 11:
        (a.graphs ??= []).push(readGraph(r.sub()));
        break;
      case 13:
        a.docString = r.string();
        break;
      case 20:
        a.type = num(r.varint());
        break;
      case 21:
        a.refAttrName = r.string();
        break;
      default:
        keep(r, f, a);
    }
  }
  return a;
}

function readNode(r: ProtoReader): NodeProto {
  const n: NodeProto = { input: [], output: [], name: "", opType: "", domain: "", attribute: [] };
  for (let f = r.next(); f; f = r.next()) {
    switch (f.field) {
      case 1:
        n.input.push(r.string());
        break;
      case 2:
        n.output.push(r.string());
        break;
      case 3:
        n.name = r.string();
        break;
      case 4:
        n.opType = r.string();
        break;
      case 5:
        n.attribute.push(readAttribute(r.sub()));
        break;
      case 6:
        n.docString = r.string();
        break;
      case 7:
        n.domain = r.string();
        break;
      default:
        keep(r, f, n);
    }
  }
  return n;
}

function readDimension(r: ProtoReader): DimensionProto {
  const d: DimensionProto = {};
  for (let f = r.next(); f; f = r.next()) {
    if (f.field === 1) d.dimValue = num(r.varint());
    else if (f.field === 2) d.dimParam = r.string();
    else if (f.field === 3) d.denotation = r.string();
    else r.skip(f.wireType);
  }
  return d;
}

function readShape(r: ProtoReader): TensorShapeProto {
  const s: TensorShapeProto = { dim: [] };
  for (let f = r.next(); f; f = r.next()) {
    if (f.field === 1) s.dim.push(readDimension(r.sub()));
    else r.skip(f.wireType);
  }
  return s;
}

function readType(r: ProtoReader): TypeProto {
  const t: TypeProto = {};
  for (let f = r.next(); f; f = r.next()) {
    if (f.field === 1) {
      const tt: NonNullable<TypeProto["tensorType"]> = { elemType: 0 };
      const sub = r.sub();
      for (let g = sub.next(); g; g = sub.next()) {
        if (g.field === 1) tt.elemType = num(sub.varint());
        else if (g.field === 2) tt.shape = readShape(sub.sub());
        else sub.skip(g.wireType);
      }
      t.tensorType = tt;
    } else if (f.field === 6) t.denotation = r.string();
    else keep(r, f, t);
  }
  return t;
}

function readValueInfo(r: ProtoReader): ValueInfoProto {
  const v: ValueInfoProto = { name: "" };
  for (let f = r.next(); f; f = r.next()) {
    if (f.field === 1) v.name = r.string();
    else if (f.field === 2) v.type = readType(r.sub());
    else if (f.field === 3) v.docString = r.string();
    else keep(r, f, v);
  }
  return v;
}

function readGraph(r: ProtoReader): GraphProto {
  const g: GraphProto = { name: "", node: [], initializer: [], input: [], output: [], valueInfo: [] };
  for (let f = r.next(); f; f = r.next()) {
    switch (f.field) {
      case 1:
        g.node.push(readNode(r.sub()));
        break;
      case 2:
        g.name = r.string();
        break;
      case 5:
        g.initializer.push(readTensor(r.sub()));
        break;
      case 10:
        g.docString = r.string();
        break;
      case 11:
        g.input.push(readValueInfo(r.sub()));
        break;
      case 12:
        g.output.push(readValueInfo(r.sub()));
        break;
      case 13:
        g.valueInfo.push(readValueInfo(r.sub()));
        break;
      default:
        keep(r, f, g);
    }
  }
  return g;
}

function readOpset(r: ProtoReader): OperatorSetId {
  const o: OperatorSetId = { domain: "", version: 0 };
  for (let f = r.next(); f; f = r.next()) {
    if (f.field === 1) o.domain = r.string();
    else if (f.field === 2) o.version = num(r.varint());
    else r.skip(f.wireType);
  }
  return o;
}

/**
 * Parses ONNX model bytes. Tensor raw data are views into `bytes` (no copy): keep `bytes` alive and
 * unmodified while the model is in use.
 */
export function decodeModel(bytes: Uint8Array): ModelProto {
  const r = new ProtoReader(bytes);
  const m: ModelProto = {
    irVersion: 0,
    opsetImport: [],
    producerName: "",
    producerVersion: "",
    domain: "",
    modelVersion: 0,
    graph: { name: "", node: [], initializer: [], input: [], output: [], valueInfo: [] },
    metadataProps: [],
  };
  for (let f = r.next(); f; f = r.next()) {
    switch (f.field) {
      case 1:
        m.irVersion = num(r.varint());
        break;
      case 2:
        m.producerName = r.string();
        break;
      case 3:
        m.producerVersion = r.string();
        break;
      case 4:
        m.domain = r.string();
        break;
      case 5:
        m.modelVersion = num(r.varint());
        break;
      case 6:
        m.docString = r.string();
        break;
      case 7:
        m.graph = readGraph(r.sub());
        break;
      case 8:
        m.opsetImport.push(readOpset(r.sub()));
        break;
      case 14:
        m.metadataProps.push(readEntry(r.sub()));
        break;
      default:
        keep(r, f, m);
    }
  }
  return m;
}

/** Parses a lone TensorProto. */
export function decodeTensor(bytes: Uint8Array): TensorProto {
  return readTensor(new ProtoReader(bytes));
}
