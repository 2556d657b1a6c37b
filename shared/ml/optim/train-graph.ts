import { appendGradients, type WrtSpec } from "../autodiff/gradient.js";
import { GraphBuilder } from "../graph/builder.js";
import type { Graph } from "../graph/ir.js";
import type { Tensor } from "../onnx/tensor.js";
import { allocate, numel } from "../onnx/tensor.js";
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
  /**
   * A per-parameter learning-rate multiplier (default 1): each parameter's update is scaled by it, which
   * is a per-parameter learning rate for optimizers whose step is proportional to the rate (SGD and
   * AdamW, decay included); 0 freezes a parameter. Fine-tuning uses it to move pretrained layers slower
   * than a new head.
   */
  lrScale?: (param: string) => number;
}

/** Where one trainable parameter lives in the flat parameter vector. */
export interface FlatSlot {
  name: string;
  dims: number[];
  offset: number;
  size: number;
}

/**
 * A training graph: one run does forward, backward and the optimizer update. The trainable parameters are
 * inputs of their own shapes AND, aliased, one flat vector (`optim.params`) — the trainer feeds views of one
 * buffer for both. Gradients are concatenated into a flat vector, so clipping and the optimizer are a few
 * large elementwise ops instead of a dozen small ones per parameter. Optimizer states are flat vectors too.
 */
export interface TrainGraph {
  graph: Graph;
  /** Trainable parameters in flat order (row-restricted ones under their row names). */
  params: FlatSlot[];
  /** Their values when the graph was built (the trainer's starting point). */
  initial: Map<string, Tensor>;
  dtype: DataType;
  /** Total number of trainable elements. */
  size: number;
  /** The flat parameter input ("optim.params"). */
  flat: string;
  /** Flat state inputs, by optimizer slot name. */
  states: Map<string, string>;
  /** Input name (flat parameters or a state) → output holding its updated value. */
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
 * Appends the gradient of `loss` and the optimizer update to `graph` (in place). Feed each parameter and
 * `flat` (the same values, aliased), the states, `lr` and `step`; read the loss and the `*.next` outputs.
 */
export function buildTrainGraph(graph: Graph, o: TrainGraphOptions): TrainGraph {
  const { grads, rowParams } = appendGradients(graph, { loss: o.loss, wrt: o.trainable });
  const names = [...grads.keys()];
  const initial = new Map<string, Tensor>();
  for (const p of names) {
    const t = graph.initializers.get(p);
    if (!t || !graph.params.has(p))
      throw new Error(`buildTrainGraph: ${p} is not a parameter (inputs cannot be trained)`);
    initial.set(p, t);
  }
  const dtype = (initial.get(names[0]) as Tensor).dtype;
  if (names.some((p) => initial.get(p)?.dtype !== dtype))
    throw new Error("buildTrainGraph: trainable parameters must share one type");
  const slots: FlatSlot[] = [];
  let size = 0;
  for (const p of names) {
    const dims = (initial.get(p) as Tensor).dims;
    const n = numel(dims);
    slots.push({ name: p, dims: [...dims], offset: size, size: n });
    size += n;
  }

  const b = new GraphBuilder({ graph, dtype });
  // Each trainable parameter becomes an input of its own shape; the trainer feeds views of the flat vector
  // as those inputs and the flat vector itself, so the parameters are read in place (no slicing ops).
  for (const s of slots) {
    graph.initializers.delete(s.name);
    graph.params.delete(s.name);
    graph.addInput({ name: s.name, dtype, shape: s.dims });
  }
  const flat = b.input("optim.params", [size], dtype);

  const decide = o.decay ?? ((_p: string, dims: number[]) => dims.length >= 2);
  const updates = new Map<string, string>();
  const states = new Map<string, string>();
  let gradNorm: string | undefined;
  const lr = b.input("optim.lr", [], dtype);
  const step = b.input("optim.step", [], dtype);
  b.scope("optim", () => {
    const flatGrads = slots.map((s) => b.op("Reshape", [grads.get(s.name) as string, b.ints([-1])]));
    let grad = flatGrads.length === 1 ? flatGrads[0] : b.op("Concat", flatGrads, { axis: 0 });
    if (o.clipNorm !== undefined) {
      const clipped = clipByGlobalNorm(b, [grad], o.clipNorm);
      grad = clipped.grads[0];
      gradNorm = b.op("Identity", [clipped.norm], {}, { outputs: ["optim.grad_norm"] });
    }
    const decayed = slots.map((s) => decide(s.name, s.dims));
    let decay: string | undefined;
    if (decayed.every(Boolean)) decay = b.scalar(1);
    else if (decayed.some(Boolean)) {
      const mask = allocate(dtype, size) as Float32Array;
      slots.forEach((s, i) => {
        if (decayed[i]) mask.fill(1, s.offset, s.offset + s.size);
      });
      decay = b.constant({ dtype, dims: [size], data: mask });
    }
    const stateInputs = o.optimizer.slots.map((slot) => {
      const name = b.input(`optim.${slot}`, [size], dtype);
      states.set(slot, name);
      return name;
    });
    const shared = o.optimizer.prepare(b, lr, step);
    const next = o.optimizer.update(b, flat, grad, stateInputs, shared, decay);
    const scales = slots.map((s) => o.lrScale?.(s.name) ?? 1);
    if (scales.some((k) => !(Number.isFinite(k) && k >= 0)))
      throw new Error("buildTrainGraph: lrScale must be finite and ≥ 0");
    if (scales.some((k) => k !== 1)) {
      // p + scale · (p_next − p): the optimizer's step, shortened per element.
      const mask = allocate(dtype, size) as Float32Array;
      slots.forEach((s, i) => {
        mask.fill(scales[i], s.offset, s.offset + s.size);
      });
      const delta = b.op("Sub", [next.param, flat]);
      next.param = b.op("Add", [flat, b.op("Mul", [delta, b.constant({ dtype, dims: [size], data: mask })])]);
    }
    const expose = (input: string, value: string) => {
      const out = b.op("Identity", [value], {}, { outputs: [nextName(input)] });
      graph.addOutput({ name: out, dtype, shape: [size] });
      updates.set(input, out);
    };
    expose(flat, next.param);
    stateInputs.forEach((s, k) => {
      expose(s, next.states[k]);
    });
  });
  if (!graph.outputs.some((v) => v.name === o.loss))
    graph.addOutput({ name: o.loss, dtype: DataType.UNDEFINED });
  if (gradNorm) graph.addOutput({ name: gradNorm, dtype, shape: [] });
  return {
    graph,
    params: slots,
    initial,
    dtype,
    size,
    flat,
    states,
    updates,
    loss: o.loss,
    lr,
    step,
    gradNorm,
    rowParams,
  };
}
