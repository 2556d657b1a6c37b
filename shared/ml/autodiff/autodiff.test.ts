import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { GraphBuilder } from "../graph/builder.js";
import { f64, i64, type Tensor } from "../onnx/tensor.js";
import { DataType } from "../onnx/types.js";
import { createSession, runSession } from "../runtime/session.js";
import { gradcheck } from "./gradcheck.js";
import { appendGradients, rowsParamName } from "./index.js";

const D = DataType.DOUBLE;

describe("appendGradients", () => {
  it("accumulates gradients of a value used twice: d/dx (x·x + sin x) = 2x + cos x", async () => {
    const b = new GraphBuilder({ dtype: D });
    const x = b.input("x", [3], D);
    const y = b.op("Add", [b.op("Mul", [x, x]), b.op("Sin", [x])]);
    const loss = b.op("ReduceSum", [y], { keepdims: 0 });
    b.output(loss, "loss");
    appendGradients(b.graph, { loss: "loss", wrt: ["x"], exposePrefix: "d_" });
    const session = await createSession(b.graph, { threads: 1 });
    const xs = [0.5, -1, 2];
    const out = await runSession(session, { x: f64([3], xs) });
    const expected = xs.map((v) => 2 * v + Math.cos(v));
    (out.d_x.data as Float64Array).forEach((g, i) => {
      assert.ok(Math.abs(g - expected[i]) < 1e-12);
    });
  });

  it("prunes nodes with no path from a trainable value to the loss", () => {
    const b = new GraphBuilder({ dtype: D });
    const x = b.input("x", [4], D);
    const w = b.param("w", f64([4], [1, 2, 3, 4]));
    const frozen = b.param("frozen", f64([4], [1, 1, 1, 1]));
    // A branch that only depends on the input and a frozen weight, and one that never reaches the loss.
    const side = b.op("Exp", [b.op("Tanh", [b.op("Mul", [x, frozen])])]);
    b.op("Sigmoid", [b.op("Mul", [x, w])]);
    const loss = b.op("ReduceSum", [b.op("Mul", [b.op("Mul", [side, w]), w])], { keepdims: 0 });
    const before = b.graph.nodes.length;
    appendGradients(b.graph, { loss, wrt: ["w"] });
    const backward = b.graph.nodes.slice(before).map((n) => n.op);
    assert.ok(!backward.includes("Exp") && !backward.includes("Tanh") && !backward.includes("Sigmoid"));
    assert.ok(backward.length <= 8, `expected a small backward graph, got ${backward.join(" ")}`);
  });

  it("differentiates with respect to a graph input (gradient of a score w.r.t. a latent)", async () => {
    const report = await gradcheck({
      dtype: D,
      inputs: { latent: f64([2, 3], [0.1, -0.2, 0.3, 0.5, -0.5, 0.9]) },
      wrt: ["latent"],
      build: (b, { latent }) => {
        const w = b.param("proj", f64([3, 2], [0.3, -0.1, 0.2, 0.4, -0.5, 0.7]));
        return b.op("Tanh", [b.op("MatMul", [latent, w])]);
      },
    });
    assert.ok(report.ok, JSON.stringify(report));
  });

  it("gives zeros for a parameter with no path to the loss", async () => {
    const b = new GraphBuilder({ dtype: D });
    const x = b.input("x", [2], D);
    const w = b.param("w", f64([2], [1, 2]));
    const unused = b.param("unused", f64([3], [1, 2, 3]));
    b.op("Neg", [unused]);
    const loss = b.op("ReduceSum", [b.op("Mul", [x, w])], { keepdims: 0 });
    appendGradients(b.graph, { loss, wrt: ["w", "unused"], exposePrefix: "d_" });
    const session = await createSession(b.graph, { threads: 1 });
    const out = await runSession(session, { x: f64([2], [5, 6]) });
    assert.deepEqual(Array.from(out.d_w.data as Float64Array), [5, 6]);
    assert.deepEqual(Array.from(out.d_unused.data as Float64Array), [0, 0, 0]);
  });

  it("names the op when a rule is missing", () => {
    const b = new GraphBuilder({ dtype: D });
    const w = b.param("w", f64([2, 2], [1, 2, 3, 4]));
    const loss = b.op("ReduceSum", [b.op("Mish", [w])], { keepdims: 0 });
    assert.throws(() => appendGradients(b.graph, { loss, wrt: ["w"] }), /no gradient rule for Mish/);
  });

  it("supports a vector–Jacobian product with a seed input", async () => {
    const b = new GraphBuilder({ dtype: D });
    const x = b.input("x", [3], D);
    const y = b.op("Mul", [x, x]);
    b.input("seed", [3], D);
    appendGradients(b.graph, { loss: y, wrt: ["x"], seed: "seed", exposePrefix: "d_" });
    const session = await createSession(b.graph, { threads: 1 });
    const out = await runSession(session, { x: f64([3], [1, 2, 3]), seed: f64([3], [1, 0, -1]) });
    assert.deepEqual(Array.from(out.d_x.data as Float64Array), [2, 0, -6]);
  });
});

describe("row-restricted parameters (textual inversion)", () => {
  // Entry k of the table is k/10, so tanh stays away from saturation.
  const table = f64(
    [6, 2],
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11].map((v) => v / 10),
  );
  const ids = i64([2, 3], [0, 4, 5, 4, 1, 2]);

  function build(b: GraphBuilder, extraUse: boolean, idsIn = "ids"): string {
    const t = b.param("tokens", { ...table, data: Float64Array.from(table.data as Float64Array) });
    const emb = b.op("Gather", [t, idsIn]);
    const y = b.op("Tanh", [emb]);
    if (!extraUse) return y;
    // A second, non-Gather use of the table (tied output projection): the Concat path.
    return b.op("MatMul", [y, b.op("Transpose", [t])]);
  }

  it("gradient of the trainable rows matches finite differences (Gather path)", async () => {
    const report = await gradcheck({
      dtype: D,
      inputs: { ids },
      wrt: [{ name: "tokens", rows: [4, 6] }],
      build: (b) => build(b, false),
    });
    assert.ok(report.ok, JSON.stringify(report));
    assert.equal(report.checks[0].name, rowsParamName("tokens", 4, 6));
  });

  it("gradient of the trainable rows matches finite differences (Concat path)", async () => {
    const report = await gradcheck({
      dtype: D,
      inputs: { ids },
      wrt: [{ name: "tokens", rows: [1, 3] }],
      build: (b) => build(b, true),
    });
    assert.ok(report.ok, JSON.stringify(report));
  });

  it("leaves the rest of the table out of training and scatters only into the row block", async () => {
    const b = new GraphBuilder({ dtype: D });
    const y = build(b, false, b.input("ids", [2, 3], DataType.INT64));
    const loss = b.op("ReduceSum", [y], { keepdims: 0 });
    const { grads, rowParams } = appendGradients(b.graph, {
      loss,
      wrt: [{ name: "tokens", rows: [4, 6] }],
      exposePrefix: "d_",
    });
    const rows = rowParams.get("tokens")!;
    assert.deepEqual([...grads.keys()], [rows]);
    assert.deepEqual(b.graph.initializers.get(rows)?.dims, [2, 2]);
    // No backward op materializes a tensor the size of the table.
    const scatters = b.graph.nodes.filter((n) => n.op === "ScatterND");
    assert.equal(scatters.length, 1);
    const session = await createSession(b.graph, { threads: 1 }, { weightsAs: "inputs", feed: [rows] });
    const feeds: Record<string, Tensor> = { ids, [rows]: b.graph.initializers.get(rows)! };
    const out = await runSession(session, feeds);
    // Row 4 is used twice, row 5 once: d tanh = 1 - tanh².
    const expectRow = (r: number, uses: number) =>
      [0, 1].map((k) => uses * (1 - Math.tanh((2 * r + k) / 10) ** 2));
    const got = Array.from(out[`d_${rows}`].data as Float64Array);
    const want = [...expectRow(4, 2), ...expectRow(5, 1)];
    got.forEach((g, i) => {
      assert.ok(Math.abs(g - want[i]) < 1e-12, `${got} vs ${want}`);
    });
  });
});
