import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decodeModel, encodeModel } from "../onnx/index.js";
import { f32, i64 } from "../onnx/tensor.js";
import { DataType } from "../onnx/types.js";
import { createSession, runSession } from "../runtime/session.js";
import { fromModel, GraphBuilder, inferTypes, toModel, withParameters } from "./index.js";

function small() {
  const b = new GraphBuilder({ seed: 1 });
  const x = b.input("x", ["batch", 3]);
  const w = b.scope("enc", () => b.scope(0, () => b.param("weight", f32([3, 2], [1, 2, 3, 4, 5, 6]))));
  b.output(b.op("Relu", [b.op("MatMul", [x, w])]), "y");
  return { b, w };
}

describe("GraphBuilder", () => {
  it("names parameters hierarchically and refuses duplicates", () => {
    const { b, w } = small();
    assert.equal(w, "enc.0.weight");
    assert.deepEqual([...b.graph.params], ["enc.0.weight"]);
    assert.throws(() => b.scope("enc", () => b.scope(0, () => b.param("weight", f32([1])))), /defined twice/);
  });

  it("gives every value a fresh name and deduplicates small constants", () => {
    const { b } = small();
    const one = b.scalar(1);
    assert.equal(b.scalar(1), one);
    assert.notEqual(b.scalar(2), one);
    const outputs = b.graph.nodes.flatMap((n) => n.outputs);
    assert.equal(new Set(outputs).size, outputs.length);
  });
});

describe("toModel / fromModel", () => {
  it("weights as initializers or as inputs compute the same", async () => {
    const { b } = small();
    const x = f32([2, 3], [1, 0, -1, 0.5, 0.5, 0.5]);
    const inf = await createSession(b.graph, { threads: 1 });
    const train = await createSession(b.graph, { threads: 1 }, { weightsAs: "inputs" });
    assert.deepEqual([...train.inputNames], ["x", "enc.0.weight"]);
    const a = await runSession(inf, { x });
    const c = await runSession(train, { x, "enc.0.weight": b.graph.initializers.get("enc.0.weight")! });
    assert.deepEqual(Array.from(c.y.data as Float32Array), Array.from(a.y.data as Float32Array));
    assert.deepEqual(Array.from(a.y.data as Float32Array), [0, 0, 4.5, 6]);
  });

  it("survives encode → decode → fromModel with params, attributes, symbolic dims and metadata", async () => {
    const { b } = small();
    b.graph.metadata.set("diffda.kind", "test");
    const back = fromModel(decodeModel(encodeModel(toModel(b.graph))));
    assert.deepEqual([...back.params], ["enc.0.weight"]);
    assert.deepEqual(back.inputs, [{ name: "x", dtype: DataType.FLOAT, shape: ["batch", 3] }]);
    assert.equal(back.outputs[0].name, "y");
    assert.equal(back.metadata.get("diffda.kind"), "test");
    const session = await createSession(back, { threads: 1 });
    const out = await runSession(session, { x: f32([1, 3], [1, 1, 1]) });
    assert.deepEqual(Array.from(out.y.data as Float32Array), [9, 12]);
  });

  it("withParameters swaps weights and checks their shapes", async () => {
    const { b } = small();
    const g = withParameters(b.graph, { "enc.0.weight": f32([3, 2], [1, 1, 1, 1, 1, 1]) });
    const out = await runSession(await createSession(g, { threads: 1 }), { x: f32([1, 3], [1, 2, 3]) });
    assert.deepEqual(Array.from(out.y.data as Float32Array), [6, 6]);
    assert.throws(() => withParameters(b.graph, { "enc.0.weight": f32([2, 3]) }), /expected \[3,2\]/);
    assert.throws(() => withParameters(b.graph, { nope: f32([1]) }), /not a parameter/);
  });
});

describe("inferTypes", () => {
  it("follows shape arithmetic of exported models (Shape → Gather → Concat → Reshape) with symbols", () => {
    const b = new GraphBuilder();
    const x = b.input("x", ["batch", 4, 8, 8]);
    const shape = b.op("Shape", [x]);
    const n = b.op("Unsqueeze", [b.op("Gather", [shape, b.constant(i64([], [0]))]), b.ints([0])]);
    const target = b.op("Concat", [n, b.ints([4, -1])], { axis: 0 });
    const flat = b.op("Reshape", [x, target]);
    const t = b.op("Transpose", [flat], { perm: [0, 2, 1] });
    const conv = b.op("Conv", [x, b.param("w", f32([6, 4, 3, 3]))], { pads: [1, 1, 1, 1], strides: [2, 2] });
    const same = b.op("Conv", [x, b.param("w2", f32([6, 4, 3, 3]))], { pads: [1, 1, 1, 1] });
    const pooled = b.op("ReduceMean", [same, b.ints([2, 3])], { keepdims: 0 });
    const types = inferTypes(b.graph);
    assert.deepEqual(types.get(flat)?.shape, ["batch", 4, 64]);
    assert.deepEqual(types.get(t)?.shape, ["batch", 64, 4]);
    assert.deepEqual(types.get(conv)?.shape, ["batch", 6, 4, 4]);
    assert.deepEqual(types.get(same)?.shape, ["batch", 6, 8, 8]);
    assert.deepEqual(types.get(pooled)?.shape, ["batch", 6]);
    assert.equal(types.get(shape)?.dtype, DataType.INT64);
  });
});
