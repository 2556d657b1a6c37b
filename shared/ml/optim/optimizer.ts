import type { GraphBuilder } from "../graph/builder.js";

/** Per-step scalars every parameter update reads (learning rate, bias corrections, …). */
export type SharedScalars = Record<string, string>;

/**
 * An optimizer as graph ops: `prepare` computes per-step scalars from the `lr` and `step` inputs once,
 * `update` emits the update of a parameter vector (all trainable parameters flattened into one, so an
 * update is a handful of large elementwise ops) and returns the new parameters and new state values.
 * `decay` is a 0/1 mask (or scalar 1) selecting the elements that get weight decay, undefined for none.
 */
export interface Optimizer {
  /** Names of the per-parameter state slots (zero-initialized), e.g. ["m", "v"]. */
  readonly slots: readonly string[];
  prepare(b: GraphBuilder, lr: string, step: string): SharedScalars;
  update(
    b: GraphBuilder,
    param: string,
    grad: string,
    states: string[],
    shared: SharedScalars,
    decay: string | undefined,
  ): { param: string; states: string[] };
}
