import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as ort from "onnxruntime-node";
import { GraphBuilder } from "../../ml/graph/builder.js";
import { toModel } from "../../ml/graph/model.js";
import { DataType, encodeModel } from "../../ml/onnx/index.js";
import { importGraph } from "./graph-import.js";

async function run(bytes: Uint8Array, x: Float32Array): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes);
  const out = await session.run({ x: new ort.Tensor("float32", x, [2, 4]) });
  await session.release();
  return out[session.outputNames[0]].data as Float32Array;
}

describe("importing an exported graph", () => {
  it("upgrades opset-17 reductions and splits to opset 21 and keeps the results", async () => {
    const old = new GraphBuilder({ name: "old" });
    old.graph.opsets.set("", 17);
    const x = old.input("x", [2, 4]);
    const [a, b] = old.opN("Split", [x], { axis: 1 }, 2);
    const mean = old.op("ReduceMean", [a], { axes: [1], keepdims: 1 });
    old.output(
      old.op("Add", [
        old.op("Mul", [b, mean]),
        old.param("w", { dtype: DataType.FLOAT, dims: [2], data: Float32Array.of(1, 2) }),
      ]),
      "y",
    );
    const model = toModel(old.graph);
    const input = Float32Array.of(1, 2, 3, 4, 5, 6, 7, 8);
    const expected = await run(encodeModel(model), input);

    const host = new GraphBuilder({ name: "host" });
    const hx = host.input("x", [2, 4]);
    const outputs = importGraph(host, model, { x: host.op("Identity", [hx]) }, "imported");
    host.output(outputs.y, "z");
    assert.ok(host.graph.nodes.some((n) => n.op === "ReduceMean" && n.inputs.length === 2 && !n.attrs.axes));
    assert.ok(host.graph.nodes.some((n) => n.op === "Split" && n.attrs.num_outputs));
    assert.deepEqual(await run(encodeModel(toModel(host.graph)), input), expected);
    assert.throws(() => importGraph(host, model, {}, "unbound"), /not bound/);
  });
});
