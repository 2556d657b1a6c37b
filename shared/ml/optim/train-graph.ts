import { appendGradients, type WrtSpec } from "../autodiff/gradient.js";
import { GraphBuilder } from "../graph/builder.js";
import type { Graph } from "../graph/ir.js";
import { DataType } from "../onnx/types.js";
import { clipByGlobalNorm } from "./clip.js";
import type { Optimizer } from "./optimizer.js";

export interface TrainGraphOptions {
  /** Scalar loss value of the graph. */
  loss: string;
  /** Parameters to train (others stay frozen initializers); `rows` trains only some rows. */
  trainable: (string | WrtSpec)[];
  optimizer: Optimizer;
  /** Clip the global gradient norm to this value (and report the norm). */
  clipNorm?: number;
  /** Which parameters get weight decay (default: those of rank ≥ 2, not biases or norm scales). */
  decay?: (param: string, dims: number[]) => boolean;
}

/** A state slot of one parameter, fed as an input and returned updated. */
export interface StateSlot {
  name: string;
  param: string;
  slot: string;
}

/** A training graph: one run does forward, backward and the optimizer update. */
export interface TrainGraph {
  graph: Graph;
  /** Trainable parameter names (graph inputs), row-restricted ones under their row names. */
  params: string[];
  states: StateSlot[];
  /** Input name (parameter or state) → output holding its updated value. */
  updates: Map<string, string>;
  loss: string;
  /** Scalar inputs: learning rate and 1-based step count. */
  lr: string;
  step: string;
  /** Output with the global gradient norm before clipping (when clipping). */
  gradNorm?: string;
  /** Row-restricted parameters: table name → parameter holding its trainable rows. */
  rowParams: Map<string, string>;
}

/** Output name for the updated value of an input. */
export const nextName = (input: string): string => `${input}.next`;

/**
 * Appends the gradient of `loss` and the optimizer update to `graph` (in place). Feed parameters, states,
 * `lr` and `step` as inputs; read the loss and `*.next` outputs.
 */
export function buildTrainGraph(graph: Graph, o: TrainGraphOptions): TrainGraph {
  const { grads, rowParams } = appendGradients(graph, { loss: o.loss, wrt: o.trainable });
  const params = [...grads.keys()];
  for (const p of params) {
    if (!graph.params.has(p))
      throw new Error(`buildTrainGraph: ${p} is not a parameter (inputs cannot be trained)`);
  }
  const dtype = graph.initializers.get(params[0])?.dtype ?? DataType.FLOAT;
  const b = new GraphBuilder({ graph, dtype });
  const decay = o.decay ?? ((_p: string, dims: number[]) => dims.length >= 2);
  const updates = new Map<string, string>();
  const states: StateSlot[] = [];
  let gradNorm: string | undefined;
  const lr = b.input("optim.lr", [], dtype);
  const step = b.input("optim.step", [], dtype);
  b.scope("optim", () => {
    let gradList = params.map((p) => grads.get(p) as string);
    if (o.clipNorm !== undefined) {
      const clipped = clipByGlobalNorm(b, gradList, o.clipNorm);
      gradList = clipped.grads;
      gradNorm = b.op("Identity", [clipped.norm], {}, { outputs: ["optim.grad_norm"] });
    }
    const shared = o.optimizer.prepare(b, lr, step);
    params.forEach((p, i) => {
      const t = graph.initializers.get(p);
      if (!t) throw new Error(`buildTrainGraph: no initializer for ${p}`);
      const slotInputs = o.optimizer.slots.map((slot) => {
        const name = `${p}.${slot}`;
        states.push({ name, param: p, slot });
        return b.input(name, [...t.dims], t.dtype);
      });
      const next = o.optimizer.update(b, p, gradList[i], slotInputs, shared, decay(p, t.dims));
      const expose = (input: string, value: string) => {
        const out = b.op("Identity", [value], {}, { outputs: [nextName(input)] });
        graph.addOutput({ name: out, dtype: t.dtype, shape: [...t.dims] });
        updates.set(input, out);
      };
      expose(p, next.param);
      slotInputs.forEach((s, k) => {
        expose(s, next.states[k]);
      });
    });
  });
  if (!graph.outputs.some((v) => v.name === o.loss))
    graph.addOutput({ name: o.loss, dtype: DataType.UNDEFINED });
  if (gradNorm) graph.addOutput({ name: gradNorm, dtype, shape: [] });
  return { graph, params, states, updates, loss: o.loss, lr, step, gradNorm, rowParams };
}
