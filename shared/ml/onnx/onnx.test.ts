import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as ort from "onnxruntime-node";
import {
  AttributeType,
  DataType,
  decodeModel,
  decodeTensor,
  encodeModel,
  encodeTensor,
  f32,
  type ModelProto,
  ProtoReader,
  ProtoWriter,
  tensorFromProto,
  tensorToProto,
} from "./index.js";

const utf8 = new TextEncoder();

function valueInfo(name: string, elemType: number, dims: (number | string)[]) {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

/** y = Gemm(x, w, b) then Relu, w and b as initializers; "batch" is symbolic. */
function gemmReluModel(): ModelProto {
  return {
    irVersion: 10,
    opsetImport: [{ domain: "", version: 21 }],
    producerName: "diffda-test",
    producerVersion: "0",
    domain: "",
    modelVersion: 0,
    metadataProps: [{ key: "purpose", value: "round trip" }],
    graph: {
      name: "g",
      node: [
        {
          input: ["x", "w", "b"],
          output: ["h"],
          name: "gemm",
          opType: "Gemm",
          domain: "",
          attribute: [
            { name: "transB", type: AttributeType.INT, i: 1 },
            { name: "alpha", type: AttributeType.FLOAT, f: 0.5 },
          ],
        },
        { input: ["h"], output: ["y"], name: "relu", opType: "Relu", domain: "", attribute: [] },
      ],
      initializer: [
        tensorToProto("w", f32([2, 3], [1, 2, 3, -1, -2, -3])),
        { name: "b", dataType: DataType.FLOAT, dims: [2], floatData: [0.25, 10] },
      ],
      input: [valueInfo("x", DataType.FLOAT, ["batch", 3])],
      output: [valueInfo("y", DataType.FLOAT, ["batch", 2])],
      valueInfo: [valueInfo("h", DataType.FLOAT, ["batch", 2])],
    },
  };
}

describe("protobuf wire format", () => {
  it("round-trips varints including negative and large int64", () => {
    const values = [0, 1, 127, 128, 300, 2 ** 31, 2 ** 53 - 1, -1, -(2 ** 40), 9223372036854775807n];
    const w = new ProtoWriter();
    for (const v of values) w.varint(v);
    const r = new ProtoReader(w.finish());
    const back = values.map(() => r.varint());
    assert.deepEqual(back, values);
    assert.ok(r.done);
  });

  it("writes -1 as ten bytes, as int64 fields require", () => {
    assert.equal(new ProtoWriter().varint(-1).finish().length, 10);
  });

  it("rejects truncated input instead of reading past the end", () => {
    const bytes = new ProtoWriter().string(7, "hello").finish(); // ModelProto.graph, 5 bytes long
    assert.throws(() => decodeModel(bytes.subarray(0, 4)), /malformed protobuf/);
  });
});

describe("ONNX model codec", () => {
  it("encodes a model that onnxruntime loads and runs", async () => {
    const bytes = encodeModel(gemmReluModel());
    const session = await ort.InferenceSession.create(bytes);
    const x = new ort.Tensor("float32", Float32Array.from([1, 1, 1, 2, 0, -1]), [2, 3]);
    const { y } = await session.run({ x });
    // row 0: 0.5*[6, -6] + [0.25, 10] = [3.25, 7]; row 1: 0.5*[-1, 1] + b = [-0.25→0, 10.5]
    assert.deepEqual(Array.from(y.data as Float32Array), [3.25, 7, 0, 10.5]);
    assert.deepEqual(session.inputNames, ["x"]);
  });

  it("round-trips every modelled field", () => {
    const model = gemmReluModel();
    const back = decodeModel(encodeModel(model));
    assert.equal(back.irVersion, 10);
    assert.deepEqual(back.opsetImport, [{ domain: "", version: 21 }]);
    assert.equal(back.producerName, "diffda-test");
    assert.deepEqual(back.metadataProps, model.metadataProps);
    assert.deepEqual(
      back.graph.node.map((n) => [n.opType, n.name, n.input, n.output]),
      model.graph.node.map((n) => [n.opType, n.name, n.input, n.output]),
    );
    assert.deepEqual(back.graph.node[0].attribute, model.graph.node[0].attribute);
    assert.deepEqual(back.graph.input, model.graph.input);
    assert.deepEqual(back.graph.output, model.graph.output);
    assert.deepEqual(back.graph.valueInfo, model.graph.valueInfo);
    assert.deepEqual(
      Array.from(tensorFromProto(back.graph.initializer[0]).data as Float32Array),
      [1, 2, 3, -1, -2, -3],
    );
    assert.deepEqual(Array.from(tensorFromProto(back.graph.initializer[1]).data as Float32Array), [0.25, 10]);
    // Re-encoding the decoded model gives the same bytes.
    assert.deepEqual(encodeModel(back), encodeModel(model));
  });

  it("round-trips attribute kinds: ints (with int64 extremes), floats, strings, tensor, subgraph", () => {
    const model = gemmReluModel();
    const sub = gemmReluModel().graph;
    model.graph.node[1].attribute = [
      { name: "ints", type: AttributeType.INTS, ints: [1, -2, 9223372036854775807n] },
      { name: "floats", type: AttributeType.FLOATS, floats: [0.5, -1.25] },
      { name: "s", type: AttributeType.STRING, s: utf8.encode("nearest") },
      { name: "strings", type: AttributeType.STRINGS, strings: [utf8.encode("a"), utf8.encode("bc")] },
      { name: "t", type: AttributeType.TENSOR, t: tensorToProto("", f32([2], [3, 4])) },
      { name: "g", type: AttributeType.GRAPH, g: sub },
    ];
    const back = decodeModel(encodeModel(model)).graph.node[1].attribute;
    assert.deepEqual(back[0].ints, [1, -2, 9223372036854775807n]);
    assert.deepEqual(back[1].floats, [0.5, -1.25]);
    assert.equal(new TextDecoder().decode(back[2].s), "nearest");
    assert.deepEqual(
      back[3].strings?.map((s) => new TextDecoder().decode(s)),
      ["a", "bc"],
    );
    assert.deepEqual(Array.from(tensorFromProto(back[4].t!).data as Float32Array), [3, 4]);
    assert.equal(back[5].g?.node[0].opType, "Gemm");
    assert.deepEqual(
      back.map((a) => a.type),
      [7, 6, 3, 8, 4, 5],
    );
  });

  it("keeps fields it does not model, byte for byte", () => {
    const bytes = encodeModel(gemmReluModel());
    // Append ModelProto.functions (field 25) and an unknown field inside the graph's first node.
    const extra = new ProtoWriter().string(25, "opaque function bytes").finish();
    const withExtra = new Uint8Array(bytes.length + extra.length);
    withExtra.set(bytes);
    withExtra.set(extra, bytes.length);
    const decoded = decodeModel(withExtra);
    assert.equal(decoded.unknownFields?.length, 1);
    assert.deepEqual(encodeModel(decoded), withExtra);
  });

  it("accepts packed and unpacked repeated scalars, and typed data fields", () => {
    const w = new ProtoWriter();
    w.packedVarints(1, [2, 3]); // dims packed
    w.int64(2, DataType.INT64);
    w.int64(7, -5).int64(7, 6); // int64_data unpacked
    w.int64(7, 7).int64(7, 8).int64(7, 9).int64(7, 10);
    const t = tensorFromProto(decodeTensor(w.finish()));
    assert.deepEqual(t.dims, [2, 3]);
    assert.deepEqual(Array.from(t.data as BigInt64Array), [-5n, 6n, 7n, 8n, 9n, 10n]);

    const i32 = tensorFromProto(
      decodeTensor(
        encodeTensor({ name: "i", dataType: DataType.INT32, dims: [3], int32Data: [-1, 0, 70000] }),
      ),
    );
    assert.deepEqual(Array.from(i32.data as Int32Array), [-1, 0, 70000]);
    const f64 = tensorFromProto(
      decodeTensor(
        encodeTensor({ name: "d", dataType: DataType.DOUBLE, dims: [2], doubleData: [Math.PI, -0] }),
      ),
    );
    assert.deepEqual(Array.from(f64.data as Float64Array), [Math.PI, -0]);
  });

  it("refuses external data with a clear message", () => {
    assert.throws(
      () =>
        tensorFromProto({
          name: "w",
          dataType: DataType.FLOAT,
          dims: [1],
          dataLocation: 1,
          externalData: [{ key: "location", value: "w.bin" }],
        }),
      /external data/,
    );
  });
});
