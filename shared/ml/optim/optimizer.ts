import type { GraphBuilder } from "../graph/builder.js";

/** Per-step scalars every parameter update reads (learning rate, bias corrections, …). */
export type SharedScalars = Record<string, string>;

/**
 * An optimizer as graph ops: `prepare` computes per-step scalars from the `lr` and `step` inputs once,
 * `update` emits one parameter's update and returns the new parameter and new state values.
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
    decay: boolean,
  ): { param: string; states: string[] };
}
