import type { WrtSpec } from "../autodiff/gradient.js";
import type { Graph } from "../graph/ir.js";
import { toModel } from "../graph/model.js";
import { encodeModel } from "../onnx/encode.js";
import { allocate, numel, type Tensor } from "../onnx/tensor.js";
import type { DataType } from "../onnx/types.js";
import type { Optimizer } from "../optim/optimizer.js";
import type { Schedule } from "../optim/schedule.js";
import { buildTrainGraph, type TrainGraph } from "../optim/train-graph.js";
import { loadSafetensors, saveSafetensors } from "../safetensors/file.js";
import { leaseRunner, type RunnerPool } from "./pool.js";
import type { Runner } from "./runner.js";
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
  /** Per-parameter learning-rate multiplier (see buildTrainGraph). */
  lrScale?: (param: string) => number;
  session?: SessionConfig;
  /** Run onnxruntime in a worker thread (parameters move to it and back without copies). */
  worker?: boolean;
  /**
   * Borrow the session from this pool (and give it back on `release`) instead of opening one: the training
   * graph takes every trainable parameter as an input, so runs of the same shape share its bytes.
   */
  pool?: RunnerPool;
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

function scalar(dtype: DataType, value: number): Tensor {
  const data = allocate(dtype, 1) as Float32Array;
  data[0] = value;
  return { dtype, dims: [], data };
}

/**
 * Trains parameters of a graph: one onnxruntime run per step does forward, backward and the optimizer
 * update. The trainable parameters live here as one flat typed array (and one per optimizer slot), are fed
 * as inputs and replaced by the updated outputs — moved to a worker and back without copies. Checkpoints
 * are safetensors files with each parameter and its optimizer state under their own names, and the step.
 */
export class Trainer {
  readonly train: TrainGraph;
  readonly #runner: Runner;
  readonly #giveBack: () => Promise<void>;
  readonly #schedule: Schedule;
  readonly #optimizerSlots: string[];
  #values = new Map<string, Tensor>();
  #step = 0;

  private constructor(
    train: TrainGraph,
    runner: { runner: Runner; release(): Promise<void> },
    schedule: Schedule,
    slots: readonly string[],
  ) {
    this.train = train;
    this.#runner = runner.runner;
    this.#giveBack = () => runner.release();
    this.#schedule = schedule;
    this.#optimizerSlots = [...slots];
    const flat = allocate(train.dtype, train.size) as Float32Array;
    for (const p of train.params)
      flat.set((train.initial.get(p.name) as Tensor).data as Float32Array, p.offset);
    this.#values.set(train.flat, { dtype: train.dtype, dims: [train.size], data: flat });
    for (const input of train.states.values()) {
      this.#values.set(input, {
        dtype: train.dtype,
        dims: [train.size],
        data: allocate(train.dtype, train.size),
      });
    }
  }

  static async create(o: TrainerOptions): Promise<Trainer> {
    const train = buildTrainGraph(o.graph.clone(), {
      loss: o.loss,
      trainable: o.trainable,
      optimizer: o.optimizer,
      clipNorm: o.clipNorm,
      decay: o.decay,
      lrScale: o.lrScale,
    });
    const bytes = encodeModel(toModel(train.graph));
    const lease = await leaseRunner(bytes, o.session ?? {}, { pool: o.pool, worker: o.worker ?? false });
    return new Trainer(train, lease, o.schedule, o.optimizer.slots);
  }

  /** Steps taken so far. */
  get step(): number {
    return this.#step;
  }

  /** Takes one optimizer step on a batch (the graph's data inputs). */
  async trainStep(batch: Record<string, Tensor>): Promise<StepResult> {
    const step = this.#step + 1;
    const lr = this.#schedule(step);
    const dtype = this.train.dtype;
    const feeds: Record<string, Tensor> = {
      ...batch,
      [this.train.lr]: scalar(dtype, lr),
      [this.train.step]: scalar(dtype, step),
    };
    for (const [name, t] of this.#values) feeds[name] = t;
    // The parameters as views of the flat vector: one buffer, fed twice, moved once.
    const flat = (this.#values.get(this.train.flat) as Tensor).data as Float32Array;
    for (const p of this.train.params) {
      feeds[p.name] = {
        dtype: this.train.dtype,
        dims: p.dims,
        data: flat.subarray(p.offset, p.offset + p.size),
      };
    }
    const fetches = [this.train.loss, ...this.train.updates.values()];
    if (this.train.gradNorm) fetches.push(this.train.gradNorm);
    const out = await this.#runner.run(feeds, {
      fetches,
      transfer: [...this.#values.keys()],
      shareViews: true,
    });
    for (const [input, output] of this.train.updates) this.#values.set(input, out[output]);
    this.#step = step;
    const result: StepResult = { step, loss: Number(out[this.train.loss].data[0]), lr };
    if (this.train.gradNorm) result.gradNorm = Number(out[this.train.gradNorm].data[0]);
    return result;
  }

  /** A copy of one parameter's (or optimizer state's) slice of a flat vector. */
  #slice(flat: string, name: string): Tensor {
    const slot = this.train.params.find((p) => p.name === name);
    if (!slot) throw new Error(`${name} is not trained`);
    const data = (this.#values.get(flat) as Tensor).data.slice(slot.offset, slot.offset + slot.size);
    return { dtype: this.train.dtype, dims: [...slot.dims], data };
  }

  /** Current values of the trained parameters (row-restricted ones under their row names). */
  trainedParameters(): Map<string, Tensor> {
    return new Map(this.train.params.map((p) => [p.name, this.#slice(this.train.flat, p.name)]));
  }

  /**
   * Every parameter of the model with the trained values in place: frozen ones as they were, trained ones
   * updated, and trained rows written back into copies of their tables.
   */
  modelParameters(): Map<string, Tensor> {
    const g = this.train.graph;
    const out = new Map<string, Tensor>();
    for (const name of g.params) out.set(name, g.initializers.get(name) as Tensor);
    const rowOwners = new Map([...this.train.rowParams].map(([table, rows]) => [rows, table]));
    for (const [name, t] of this.trainedParameters()) if (!rowOwners.has(name)) out.set(name, t);
    for (const [rows, table] of rowOwners) {
      const match = /\.rows_(\d+)_(\d+)$/.exec(rows);
      if (!match) throw new Error(`unexpected row parameter name ${rows}`);
      const merged = copy(out.get(table) as Tensor);
      const rowSize = numel(merged.dims.slice(1));
      (merged.data as Float32Array).set(
        this.#slice(this.train.flat, rows).data as Float32Array,
        Number(match[1]) * rowSize,
      );
      out.set(table, merged);
    }
    return out;
  }

  /** Parameters and optimizer state (`${param}.${slot}`) as tensors, plus the step as metadata. */
  checkpoint(): { tensors: Map<string, Tensor>; metadata: Record<string, string> } {
    const tensors = new Map<string, Tensor>();
    for (const p of this.train.params) {
      tensors.set(p.name, this.#slice(this.train.flat, p.name));
      for (const [slot, input] of this.train.states)
        tensors.set(`${p.name}.${slot}`, this.#slice(input, p.name));
    }
    return {
      tensors,
      metadata: {
        format: CHECKPOINT_FORMAT,
        step: String(this.#step),
        optimizer_slots: this.#optimizerSlots.join(","),
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
    if (metadata.optimizer_slots !== this.#optimizerSlots.join(",")) {
      throw new Error(
        `${path}: optimizer state [${metadata.optimizer_slots}] does not match [${this.#optimizerSlots}]`,
      );
    }
    const next = new Map<string, Tensor>();
    const fill = (input: string, suffix: string) => {
      const flat = allocate(this.train.dtype, this.train.size) as Float32Array;
      for (const p of this.train.params) {
        const name = `${p.name}${suffix}`;
        const t = tensors.get(name);
        if (!t) throw new Error(`${path}: missing ${name}`);
        if (t.dtype !== this.train.dtype || t.dims.join() !== p.dims.join()) {
          throw new Error(`${path}: ${name} is [${t.dims}] of type ${t.dtype}, expected [${p.dims}]`);
        }
        flat.set(t.data as Float32Array, p.offset);
      }
      next.set(input, { dtype: this.train.dtype, dims: [this.train.size], data: flat });
    };
    fill(this.train.flat, "");
    for (const [slot, input] of this.train.states) fill(input, `.${slot}`);
    this.#values = next;
    this.#step = Number(metadata.step);
  }

  /** Closes the session, or gives it back to the pool it came from. */
  async release(): Promise<void> {
    await this.#giveBack();
  }
}

function copy(t: Tensor): Tensor {
  return { dtype: t.dtype, dims: [...t.dims], data: t.data.slice() };
}
