import { GraphBuilder } from "../graph/builder.js";
import { graphConstants, inferTypes } from "../graph/infer.js";
import type { Graph } from "../graph/ir.js";
import { allocate, numel } from "../onnx/tensor.js";
import { DataType } from "../onnx/types.js";
import { type GradRule, makeContext, staticSize } from "./context.js";
import { restrictRows } from "./rows.js";
import { gradRules, nonDifferentiable } from "./rules/index.js";

/** A value to differentiate with respect to: a parameter or graph input, optionally only some rows. */
export interface WrtSpec {
  name: string;
  /**
   * Train only rows [start, end) of a parameter (a textual-inversion token table): the rows become a
   * separate parameter, so the rest of the table receives no gradient and no update.
   */
  rows?: [number, number];
}

export interface GradientOptions {
  /** The value to differentiate: a scalar (or one-element) loss, unless `seed` is given. */
  loss: string;
  /** Parameters or graph inputs to differentiate with respect to. */
  wrt: (string | WrtSpec)[];
  /** A graph input holding dL/d(loss) (a vector–Jacobian product); default: ones. */
  seed?: string;
  /** Rules that replace or extend the built-in table (for tests and custom ops). */
  rules?: Record<string, GradRule>;
  /** Add each gradient as a graph output named `${prefix}${wrt}` (default: not exposed). */
  exposePrefix?: string;
}

export interface GradientResult {
  /** Gradient value name for each differentiated name (row-restricted ones under their new names). */
  grads: Map<string, string>;
  /** Row-restricted parameters: original name → the parameter holding the trainable rows. */
  rowParams: Map<string, string>;
}

const FLOAT_TYPES = new Set<number>([DataType.FLOAT, DataType.DOUBLE, DataType.FLOAT16, DataType.BFLOAT16]);

/**
 * Appends the reverse-mode gradient of `loss` to `graph` (in place) using one rule per op. Only nodes on a
 * path from a `wrt` value to the loss get backward nodes; everything else is pruned.
 */
export function appendGradients(graph: Graph, options: GradientOptions): GradientResult {
  const rowParams = new Map<string, string>();
  const wrt: string[] = [];
  for (const w of options.wrt) {
    const spec = typeof w === "string" ? { name: w } : w;
    if (spec.rows) {
      const rowName = restrictRows(graph, spec.name, spec.rows[0], spec.rows[1]);
      rowParams.set(spec.name, rowName);
      wrt.push(rowName);
    } else wrt.push(spec.name);
  }
  const inputs = new Set(graph.inputs.map((v) => v.name));
  for (const name of wrt) {
    if (!graph.initializers.has(name) && !inputs.has(name)) {
      throw new Error(`appendGradients: ${name} is neither a parameter nor a graph input`);
    }
  }
  const rules = { ...gradRules, ...options.rules };
  const types = inferTypes(graph);
  const constants = graphConstants(graph);
  const isFloat = (v: string) => FLOAT_TYPES.has(types.get(v)?.dtype ?? DataType.FLOAT);

  // Values that depend on a wrt value, and values the loss depends on.
  const active = new Set(wrt);
  for (const node of graph.nodes) {
    if (nonDifferentiable.has(node.op)) continue;
    if (node.inputs.some((i) => active.has(i)))
      for (const o of node.outputs) if (o && isFloat(o)) active.add(o);
  }
  if (!active.has(options.loss)) {
    throw new Error(`appendGradients: ${options.loss} does not depend on any of ${wrt.join(", ")}`);
  }
  const forward = [...graph.nodes];
  const reaches = new Set([options.loss]);
  for (let k = forward.length - 1; k >= 0; k--) {
    const node = forward[k];
    if (node.outputs.some((o) => reaches.has(o))) for (const i of node.inputs) if (i) reaches.add(i);
  }
  const needsGrad = (v: string) => v !== "" && active.has(v) && reaches.has(v) && isFloat(v);

  const lossType = types.get(options.loss);
  const dtype = lossType?.dtype ?? DataType.FLOAT;
  const b = new GraphBuilder({ graph, dtype });
  const contributions = new Map<string, string[]>();
  const add = (v: string, g: string) => {
    const list = contributions.get(v);
    if (list) list.push(g);
    else contributions.set(v, [g]);
  };
  const total = (v: string): string | undefined => {
    const list = contributions.get(v);
    if (!list || list.length === 0) return undefined;
    const sum = list.length === 1 ? list[0] : b.op("Sum", list);
    contributions.set(v, [sum]);
    return sum;
  };

  b.scope("grad", () => {
    if (options.seed) add(options.loss, options.seed);
    else {
      const shape = lossType?.shape;
      const n = shape && staticSize(shape);
      if (n !== 1 && n !== undefined)
        throw new Error(`appendGradients: loss ${options.loss} has ${n} elements`);
      const dims = (shape ?? []) as number[];
      const data = allocate(dtype, numel(dims)) as Float32Array;
      data.fill(1);
      add(options.loss, b.constant({ dtype, dims, data }));
    }
    for (let k = forward.length - 1; k >= 0; k--) {
      const node = forward[k];
      if (nonDifferentiable.has(node.op) || !node.outputs.some((o) => active.has(o) && reaches.has(o)))
        continue;
      const dy = node.outputs.map((o) => (o ? total(o) : undefined));
      if (dy.every((g) => g === undefined)) continue;
      const needs = node.inputs.map(needsGrad);
      if (!needs.some(Boolean)) continue;
      const rule = node.domain === "" || node.domain === "ai.onnx" ? rules[node.op] : undefined;
      if (!rule) {
        throw new Error(
          `no gradient rule for ${node.domain ? `${node.domain}.` : ""}${node.op} (node ${node.name})`,
        );
      }
      // Backward values are named grad.<forward op>/… so profiles attribute time to the rule.
      const dx = b.scope(node.op, () =>
        rule(makeContext(node, dy, needs, b, types, (name) => constants.get(name))),
      );
      node.inputs.forEach((input, i) => {
        const g = dx[i];
        if (needs[i] && g) add(input, g);
      });
    }
  });

  const grads = new Map<string, string>();
  b.scope("grad", () => {
    for (const name of wrt) {
      let g = total(name);
      if (!g) {
        const t = types.get(name);
        const zero = allocate((t?.dtype ?? DataType.FLOAT) as DataType, 1);
        g = b.op("ConstantOfShape", [b.op("Shape", [name])], {
          value: { dtype: (t?.dtype ?? DataType.FLOAT) as DataType, dims: [1], data: zero },
        });
      }
      if (options.exposePrefix !== undefined) {
        const exposed = `${options.exposePrefix}${name}`;
        g = b.op("Identity", [g], {}, { outputs: [exposed] });
        const t = types.get(name);
        graph.addOutput({ name: exposed, dtype: t?.dtype ?? dtype, shape: t?.shape });
      }
      grads.set(name, g);
    }
  });
  return { grads, rowParams };
}
