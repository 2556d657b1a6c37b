import { inferTypes } from "./infer.js";
import type { Dim, Graph } from "./ir.js";
import { attrInt } from "./ir.js";

function product(ds: Dim[] | undefined): number | undefined {
  if (!ds) return undefined;
  let n = 1;
  for (const d of ds) {
    if (typeof d !== "number") return undefined;
    n *= d;
  }
  return n;
}

/** A copy of the graph whose inputs have the given symbolic dims replaced by sizes (e.g. { batch: 16 }). */
export function specialize(graph: Graph, dims: Record<string, number>): Graph {
  const g = graph.clone();
  for (const v of g.inputs) v.shape = v.shape?.map((d) => (typeof d === "string" && d in dims ? dims[d] : d));
  return g;
}

/** Multiply–accumulate counts of the compute-bound ops, by op type, and the total FLOPs (2 per MAC). */
export interface FlopCount {
  flops: number;
  macsByOp: Record<string, number>;
  /** Ops whose shapes were not static, so they are not counted. */
  uncounted: number;
}

/**
 * Counts the FLOPs of Conv, ConvTranspose, MatMul and Gemm (2 × multiply–accumulates) from inferred static
 * shapes. Elementwise and normalization ops are not counted: this is the work a dense kernel does, the
 * figure to compare with a MatMul's throughput.
 */
export function countFlops(graph: Graph): FlopCount {
  const types = inferTypes(graph);
  const macsByOp: Record<string, number> = {};
  let uncounted = 0;
  const add = (op: string, macs: number | undefined) => {
    if (macs === undefined || Number.isNaN(macs)) uncounted++;
    else macsByOp[op] = (macsByOp[op] ?? 0) + macs;
  };
  for (const n of graph.nodes) {
    const shape = (i: number) => types.get(n.inputs[i])?.shape;
    const out = types.get(n.outputs[0])?.shape;
    if (n.op === "Conv") {
      const w = shape(1);
      const perOutput = product(w?.slice(1));
      const outs = product(out);
      add("Conv", perOutput !== undefined && outs !== undefined ? perOutput * outs : undefined);
    } else if (n.op === "ConvTranspose") {
      // Each input element feeds Cout/group × k… outputs: W is [Cin, Cout/group, k…].
      const perInput = product(shape(1)?.slice(1));
      const ins = product(shape(0));
      add("ConvTranspose", perInput !== undefined && ins !== undefined ? perInput * ins : undefined);
    } else if (n.op === "MatMul") {
      const a = shape(0);
      const k = a?.[a.length - 1];
      const outs = product(out);
      add("MatMul", typeof k === "number" && outs !== undefined ? k * outs : undefined);
    } else if (n.op === "Gemm") {
      const a = shape(0);
      const k = a && (attrInt(n, "transA", 0) ? a[0] : a[1]);
      const outs = product(out);
      add("Gemm", typeof k === "number" && outs !== undefined ? k * outs : undefined);
    }
  }
  const macs = Object.values(macsByOp).reduce((s, m) => s + m, 0);
  return { flops: 2 * macs, macsByOp, uncounted };
}
