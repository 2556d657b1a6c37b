import type * as ort from "onnxruntime-node";
import { Rng } from "../../random/index.js";
import { GraphBuilder } from "../graph/builder.js";
import type { Graph } from "../graph/ir.js";
import { numel, type Tensor } from "../onnx/tensor.js";
import { DataType } from "../onnx/types.js";
import { createSession, runSession } from "../runtime/session.js";
import type { GradRule } from "./context.js";
import { appendGradients, type WrtSpec } from "./gradient.js";

export interface GradCheckOptions {
  /** Declares parameters and ops on the builder and returns the value under test. */
  build: (b: GraphBuilder, inputs: Record<string, string>) => string;
  /** Start from (a copy of) this graph, e.g. a decoded model; its declared inputs are not redeclared. */
  graph?: Graph;
  /** Values of the graph inputs (declared before `build` runs, under these names). */
  inputs: Record<string, Tensor>;
  /** Inputs or parameters to check. */
  wrt: (string | WrtSpec)[];
  /** Element type of the builder's parameters and constants (default float64). */
  dtype?: DataType;
  seed?: number;
  /** Rules replacing built-in ones (to show that a wrong rule fails). */
  rules?: Record<string, GradRule>;
  /** Check element by element up to this many elements, else along random directions (f64: 64, f32: 0). */
  maxElementwise?: number;
  /** Random directions per tensor for directional checks (default 3). */
  directions?: number;
  /** Finite-difference step (f64: 1e-6, f32: 1e-2). */
  step?: number;
  /** Largest accepted relative error (f64: 1e-6, f32: 2e-3). */
  tolerance?: number;
}

export interface GradCheckReport {
  ok: boolean;
  /** Largest relative error over all checked tensors. */
  worst: number;
  tolerance: number;
  /** "shape": the gradient has another number of elements than the value (error = ∞). */
  checks: { name: string; mode: "elementwise" | "directional" | "shape"; error: number }[];
}

function like(t: Tensor, values: Float64Array): Tensor {
  const data = t.dtype === DataType.DOUBLE ? Float64Array.from(values) : Float32Array.from(values);
  return { dtype: t.dtype, dims: t.dims, data };
}

/** A tensor of standard normal draws, scaled. */
export function randomTensor(rng: Rng, dims: number[], dtype: DataType = DataType.DOUBLE, scale = 1): Tensor {
  const n = numel(dims);
  const data = dtype === DataType.DOUBLE ? new Float64Array(n) : new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = rng.nextNormal() * scale;
  return { dtype, dims, data };
}

/**
 * Compares the appended analytic gradient of L = Σ y ⊙ R (R random, fixed) with central finite differences,
 * element by element for small tensors and along random directions otherwise. L is accumulated in float64.
 */
export async function gradcheck(options: GradCheckOptions): Promise<GradCheckReport> {
  const dtype = options.dtype ?? DataType.DOUBLE;
  const f64 = dtype === DataType.DOUBLE;
  const step = options.step ?? (f64 ? 1e-6 : 1e-2);
  const tolerance = options.tolerance ?? (f64 ? 1e-6 : 2e-3);
  const maxElementwise = options.maxElementwise ?? (f64 ? 64 : 0);
  const directions = options.directions ?? 3;
  const rng = new Rng(options.seed ?? 1, 7);

  const b = new GraphBuilder({ dtype, seed: options.seed ?? 1, graph: options.graph?.clone() });
  const names: Record<string, string> = {};
  const declared = new Set(b.graph.inputs.map((v) => v.name));
  for (const [name, t] of Object.entries(options.inputs)) {
    names[name] = declared.has(name) ? name : b.input(name, t.dims, t.dtype);
  }
  const y = options.build(b, names);
  b.output(y);
  const probe = await createSession(b.graph, { threads: 1 });
  const yDims = (await runSession(probe, options.inputs, [y]))[y].dims;
  await probe.release();

  const r = b.input("gradcheck.R", yDims, DataType.DOUBLE);
  const y64 = b.op("Cast", [y], { to: DataType.DOUBLE });
  b.op("ReduceSum", [b.op("Mul", [y64, r])], { keepdims: 0 }, { outputs: ["gradcheck.loss"] });
  b.graph.addOutput({ name: "gradcheck.loss", dtype: DataType.DOUBLE, shape: [] });
  const { grads, rowParams } = appendGradients(b.graph, {
    loss: "gradcheck.loss",
    wrt: options.wrt,
    rules: options.rules,
    exposePrefix: "gradcheck.d.",
  });
  const params = [...grads.keys()].filter((n) => b.graph.params.has(n));
  const session: ort.InferenceSession = await createSession(
    b.graph,
    { threads: 1 },
    { weightsAs: "inputs", feed: params },
  );
  const feeds: Record<string, Tensor> = { ...options.inputs, [r]: randomTensor(rng, yDims) };
  for (const p of params) feeds[p] = b.graph.initializers.get(p) as Tensor;
  const analytic = await runSession(session, feeds);
  const loss = async (name: string, values: Float64Array): Promise<number> => {
    const out = await runSession(session, { ...feeds, [name]: like(feeds[name], values) }, [
      "gradcheck.loss",
    ]);
    return (out["gradcheck.loss"].data as Float64Array)[0];
  };

  const checks: GradCheckReport["checks"] = [];
  for (const name of grads.keys()) {
    const x = Float64Array.from(feeds[name].data as Float64Array);
    const g = Float64Array.from(analytic[`gradcheck.d.${name}`].data as Float64Array);
    if (g.length !== x.length) {
      checks.push({ name, mode: "shape", error: Number.POSITIVE_INFINITY });
      continue;
    }
    if (x.length <= maxElementwise) {
      let worstDiff = 0;
      let scale = 1e-12;
      for (let i = 0; i < x.length; i++) {
        const plus = Float64Array.from(x);
        const minus = Float64Array.from(x);
        plus[i] += step;
        minus[i] -= step;
        const numeric = ((await loss(name, plus)) - (await loss(name, minus))) / (2 * step);
        worstDiff = Math.max(worstDiff, Math.abs(numeric - g[i]));
        scale = Math.max(scale, Math.abs(numeric), Math.abs(g[i]));
      }
      checks.push({ name, mode: "elementwise", error: worstDiff / scale });
    } else {
      let error = 0;
      for (let k = 0; k < directions; k++) {
        const v = randomTensor(rng, [x.length]).data as Float64Array;
        const plus = x.map((xi, i) => xi + step * v[i]);
        const minus = x.map((xi, i) => xi - step * v[i]);
        const numeric = ((await loss(name, plus)) - (await loss(name, minus))) / (2 * step);
        let dot = 0;
        for (let i = 0; i < x.length; i++) dot += g[i] * v[i];
        error = Math.max(error, Math.abs(numeric - dot) / Math.max(Math.abs(numeric), Math.abs(dot), 1e-12));
      }
      checks.push({ name, mode: "directional", error });
    }
  }
  await session.release();
  void rowParams;
  const worst = Math.max(0, ...checks.map((c) => c.error));
  return { ok: worst <= tolerance && checks.length > 0, worst, tolerance, checks };
}
