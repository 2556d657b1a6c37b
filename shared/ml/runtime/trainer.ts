import type { WrtSpec } from "../autodiff/gradient.js";
import type { Graph } from "../graph/ir.js";
import { toModel } from "../graph/model.js";
import { encodeModel } from "../onnx/encode.js";
import { allocate, numel, type Tensor } from "../onnx/tensor.js";
import type { Optimizer } from "../optim/optimizer.js";
import type { Schedule } from "../optim/schedule.js";
import { buildTrainGraph, type TrainGraph } from "../optim/train-graph.js";
import { loadSafetensors, saveSafetensors } from "../safetensors/file.js";
import { InProcessRunner, type Runner, WorkerRunner } from "./runner.js";
import type { SessionConfig } from "./session.js";

export interface TrainerOptions {
  /** Forward graph computing `loss` from data inputs and parameters (cloned, never modified). */
  graph: Graph;
  loss: string;
  /** Parameters to train; the rest stay frozen initializers (pre-packed by onnxruntime). */
  trainable: (string | WrtSpec)[];
  optimizer: Optimizer;
  schedule: Schedule;
  clipNorm?: number;
  decay?: (param: string, dims: number[]) => boolean;
  session?: SessionConfig;
  /** Run onnxruntime in a worker thread (parameters move to it and back without copies). */
  worker?: boolean;
}

export interface StepResult {
  /** The step just taken (1-based). */
  step: number;
  loss: number;
  lr: number;
  /** Global gradient norm before clipping (with clipNorm). */
  gradNorm?: number;
}

const CHECKPOINT_FORMAT = "diffda-trainer-1";

function scalar(like: Tensor, value: number): Tensor {
  const data = allocate(like.dtype, 1) as Float32Array;
  data[0] = value;
  return { dtype: like.dtype, dims: [], data };
}

/**
 * Trains parameters of a graph: one onnxruntime run per step does forward, backward and the optimizer
 * update; parameters and optimizer state live here as typed arrays, are fed as inputs and replaced by the
 * updated outputs. Checkpoints are safetensors files with parameters, optimizer state and the step.
 */
export class Trainer {
  readonly train: TrainGraph;
  readonly #runner: Runner;
  readonly #schedule: Schedule;
  readonly #optimizerSlots: string;
  #values = new Map<string, Tensor>();
  #step = 0;

  private constructor(train: TrainGraph, runner: Runner, schedule: Schedule, slots: string) {
    this.train = train;
    this.#runner = runner;
    this.#schedule = schedule;
    this.#optimizerSlots = slots;
    for (const p of train.params) this.#values.set(p, copy(train.graph.initializers.get(p) as Tensor));
    for (const s of train.states) {
      const p = this.#values.get(s.param) as Tensor;
      this.#values.set(s.name, { dtype: p.dtype, dims: [...p.dims], data: allocate(p.dtype, numel(p.dims)) });
    }
  }

  static async create(o: TrainerOptions): Promise<Trainer> {
    const train = buildTrainGraph(o.graph.clone(), {
      loss: o.loss,
      trainable: o.trainable,
      optimizer: o.optimizer,
      clipNorm: o.clipNorm,
      decay: o.decay,
    });
    const bytes = encodeModel(toModel(train.graph, { weightsAs: "inputs", feed: train.params }));
    const runner = o.worker
      ? await WorkerRunner.create(bytes, o.session)
      : await InProcessRunner.create(bytes, o.session);
    return new Trainer(train, runner, o.schedule, o.optimizer.slots.join(","));
  }

  /** Steps taken so far. */
  get step(): number {
    return this.#step;
  }

  /** Takes one optimizer step on a batch (the graph's data inputs). */
  async trainStep(batch: Record<string, Tensor>): Promise<StepResult> {
    const step = this.#step + 1;
    const lr = this.#schedule(step);
    const first = this.#values.get(this.train.params[0]) as Tensor;
    const feeds: Record<string, Tensor> = {
      ...batch,
      [this.train.lr]: scalar(first, lr),
      [this.train.step]: scalar(first, step),
    };
    for (const [name, t] of this.#values) feeds[name] = t;
    const fetches = [this.train.loss, ...this.train.updates.values()];
    if (this.train.gradNorm) fetches.push(this.train.gradNorm);
    // Parameters and states move to the runner; the updated ones come back as new buffers.
    const out = await this.#runner.run(feeds, { fetches, transfer: [...this.#values.keys()] });
    for (const [input, output] of this.train.updates) this.#values.set(input, out[output]);
    this.#step = step;
    const result: StepResult = { step, loss: Number(out[this.train.loss].data[0]), lr };
    if (this.train.gradNorm) result.gradNorm = Number(out[this.train.gradNorm].data[0]);
    return result;
  }

  /** Current values of the trained parameters (row-restricted ones under their row names). */
  trainedParameters(): Map<string, Tensor> {
    return new Map(this.train.params.map((p) => [p, this.#values.get(p) as Tensor]));
  }

  /**
   * Every parameter of the model with the trained values in place: frozen ones as they were, trained ones
   * updated, and trained rows written back into copies of their tables.
   */
  modelParameters(): Map<string, Tensor> {
    const g = this.train.graph;
    const rowOwners = new Map([...this.train.rowParams].map(([table, rows]) => [rows, table]));
    const out = new Map<string, Tensor>();
    for (const name of g.params) {
      if (rowOwners.has(name)) continue;
      out.set(name, this.#values.get(name) ?? (g.initializers.get(name) as Tensor));
    }
    for (const [rows, table] of rowOwners) {
      const match = /\.rows_(\d+)_(\d+)$/.exec(rows);
      if (!match) throw new Error(`unexpected row parameter name ${rows}`);
      const merged = copy(out.get(table) as Tensor);
      const rowSize = numel(merged.dims.slice(1));
      (merged.data as Float32Array).set(
        this.#values.get(rows)?.data as Float32Array,
        Number(match[1]) * rowSize,
      );
      out.set(table, merged);
    }
    return out;
  }

  /** Parameters, optimizer state and step, as safetensors tensors and metadata. */
  checkpoint(): { tensors: Map<string, Tensor>; metadata: Record<string, string> } {
    return {
      tensors: new Map(this.#values),
      metadata: {
        format: CHECKPOINT_FORMAT,
        step: String(this.#step),
        optimizer_slots: this.#optimizerSlots,
      },
    };
  }

  /** Writes a checkpoint file. */
  async save(path: string): Promise<void> {
    const { tensors, metadata } = this.checkpoint();
    await saveSafetensors(path, tensors, metadata);
  }

  /** Restores parameters, optimizer state and step from a checkpoint of the same training setup. */
  async load(path: string): Promise<void> {
    const { tensors, metadata } = await loadSafetensors(path);
    if (metadata.format !== CHECKPOINT_FORMAT) throw new Error(`${path}: not a trainer checkpoint`);
    if (metadata.optimizer_slots !== this.#optimizerSlots) {
      throw new Error(
        `${path}: optimizer state [${metadata.optimizer_slots}] does not match [${this.#optimizerSlots}]`,
      );
    }
    const next = new Map<string, Tensor>();
    for (const [name, current] of this.#values) {
      const t = tensors.get(name);
      if (!t) throw new Error(`${path}: missing ${name}`);
      if (t.dtype !== current.dtype || t.dims.join() !== current.dims.join()) {
        throw new Error(`${path}: ${name} is [${t.dims}] of type ${t.dtype}, expected [${current.dims}]`);
      }
      next.set(name, copy(t));
    }
    this.#values = next;
    this.#step = Number(metadata.step);
  }

  async release(): Promise<void> {
    await this.#runner.release();
  }
}

function copy(t: Tensor): Tensor {
  return { dtype: t.dtype, dims: [...t.dims], data: t.data.slice() };
}
