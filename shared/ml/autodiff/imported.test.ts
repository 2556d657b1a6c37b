import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Rng } from "../../random/index.js";
import { fromModel, GraphBuilder, toModel } from "../graph/index.js";
import { decodeModel, encodeModel } from "../onnx/index.js";
import { f32, i64, type Tensor } from "../onnx/tensor.js";
import { DataType } from "../onnx/types.js";
import { gradcheck, randomTensor } from "./gradcheck.js";

/**
 * A model in the shape PyTorch's exporter writes: Constant nodes, shape arithmetic
 * (Shape → Gather → Unsqueeze → Concat → Reshape), GroupNorm as Reshape → InstanceNormalization → Reshape →
 * Mul → Add, a Gemm with transB, opaque initializer names. Built, serialized and decoded, as a real export
 * would arrive.
 */
function exportedModel(): Uint8Array {
  const rng = new Rng(8);
  const b = new GraphBuilder({ seed: 8 });
  const g = b.graph;
  const x = b.input("input", ["batch", 4, 6, 6]);
  const init = (name: string, t: Tensor) => {
    g.addInitializer(name, t, true);
    return name;
  };
  const constant = (t: Tensor) => b.op("Constant", [], { value: { kind: "tensor", value: t } });
  const conv = b.op(
    "Conv",
    [
      x,
      init("onnx::Conv_11", randomTensor(rng, [8, 4, 3, 3], DataType.FLOAT, 0.3)),
      init("onnx::Conv_12", f32([8])),
    ],
    {
      pads: [1, 1, 1, 1],
      kernel_shape: [3, 3],
    },
  );
  const shape = b.op("Shape", [conv]);
  const n = b.op("Unsqueeze", [
    b.op("Gather", [shape, constant(i64([], [0]))], { axis: 0 }),
    constant(i64([1], [0])),
  ]);
  const grouped = b.op("Reshape", [conv, b.op("Concat", [n, constant(i64([2], [2, -1]))], { axis: 0 })]);
  const normed = b.op(
    "InstanceNormalization",
    [grouped, constant(f32([2], [1, 1])), constant(f32([2], [0, 0]))],
    { epsilon: 1e-5 },
  );
  const back = b.op("Reshape", [normed, shape]);
  const gamma = init("norm.weight", randomTensor(rng, [8, 1, 1], DataType.FLOAT, 0.5));
  const beta = init("norm.bias", randomTensor(rng, [8, 1, 1], DataType.FLOAT, 0.1));
  // A smooth activation: float32 finite differences across a ReLU kink would be noise, not signal.
  const h = b.op("Sigmoid", [b.op("Add", [b.op("Mul", [back, gamma]), beta])]);
  const pooled = b.op("Flatten", [b.op("GlobalAveragePool", [h])], { axis: 1 });
  const logits = b.op(
    "Gemm",
    [pooled, init("fc.weight", randomTensor(rng, [3, 8], DataType.FLOAT, 0.5)), init("fc.bias", f32([3]))],
    {
      transB: 1,
    },
  );
  b.output(logits, "logits");
  return encodeModel(toModel(g));
}

describe("differentiating an imported (exported-style) model", () => {
  it("decodes it and matches finite differences for every parameter and the input", async () => {
    const graph = fromModel(decodeModel(exportedModel()));
    assert.deepEqual([...graph.params].sort(), [
      "fc.bias",
      "fc.weight",
      "norm.bias",
      "norm.weight",
      "onnx::Conv_11",
      "onnx::Conv_12",
    ]);
    const report = await gradcheck({
      graph,
      dtype: DataType.FLOAT,
      inputs: { input: randomTensor(new Rng(9), [2, 4, 6, 6], DataType.FLOAT) },
      wrt: ["input", ...graph.params],
      build: () => "logits",
      // Several float32 ops deep (conv, normalization): finite differences carry ~1e-3 relative noise.
      tolerance: 1e-2,
    });
    assert.ok(report.ok, JSON.stringify(report));
  });
});
