import { Rng } from "../../random/index.js";
import { allocate, numel, type Tensor } from "../onnx/tensor.js";
import { DataType } from "../onnx/types.js";
import { type AttrInput, type Dim, Graph, toAttribute } from "./ir.js";

/** Options for a node emitted by the builder. */
export interface OpOptions {
  /** Names for the outputs (default: fresh names). */
  outputs?: string[];
  domain?: string;
}

/**
 * Builds a graph op by op. Parameters get hierarchical names from the scope stack
 * (`down.0.res.0.conv1.weight`); intermediate values get fresh names. `dtype` is the floating-point type of
 * parameters and scalar constants (float32, or float64 for gradient checks).
 */
export class GraphBuilder {
  readonly graph: Graph;
  readonly rng: Rng;
  readonly dtype: DataType;
  readonly #scope: string[] = [];
  readonly #constants = new Map<string, string>();

  constructor(options: { name?: string; seed?: number; dtype?: DataType; graph?: Graph } = {}) {
    this.graph = options.graph ?? new Graph(options.name ?? "graph");
    this.rng = new Rng(options.seed ?? 0);
    this.dtype = options.dtype ?? DataType.FLOAT;
  }

  /** The current scope as a dotted prefix ("" at the top). */
  get prefix(): string {
    return this.#scope.join(".");
  }

  /** Runs `fn` with `name` pushed on the scope stack (parameter names get it as a prefix). */
  scope<T>(name: string | number, fn: () => T): T {
    this.#scope.push(String(name));
    try {
      return fn();
    } finally {
      this.#scope.pop();
    }
  }

  /** The full name a parameter called `local` gets in the current scope. */
  qualify(local: string): string {
    return this.#scope.length ? `${this.prefix}.${local}` : local;
  }

  /** Declares a graph input and returns its name. */
  input(name: string, shape: Dim[], dtype: DataType = this.dtype): string {
    this.graph.addInput({ name, dtype, shape });
    return name;
  }

  /** Marks `value` as a graph output, renamed to `as` (through Identity) when given. */
  output(value: string, as?: string): string {
    let name = value;
    if (as && as !== value) {
      this.op("Identity", [value], {}, { outputs: [as] });
      name = as;
    }
    this.graph.addOutput({ name, dtype: DataType.UNDEFINED });
    return name;
  }

  /** Emits a node with one output; returns the output name. */
  op(op: string, inputs: string[], attrs: Record<string, AttrInput> = {}, options: OpOptions = {}): string {
    return this.opN(op, inputs, attrs, 1, options)[0];
  }

  /** Emits a node with `n` outputs; returns their names. */
  opN(
    op: string,
    inputs: string[],
    attrs: Record<string, AttrInput>,
    n: number,
    options: OpOptions = {},
  ): string[] {
    const base = this.#scope.length ? `${this.prefix}/${op}` : op;
    const outputs = options.outputs ?? Array.from({ length: n }, () => this.graph.fresh(base));
    for (const o of outputs) this.graph.reserve(o);
    const converted: Record<string, ReturnType<typeof toAttribute>> = {};
    for (const [k, v] of Object.entries(attrs)) if (v !== undefined) converted[k] = toAttribute(k, v);
    this.graph.addNode({
      op,
      inputs,
      outputs,
      attrs: converted,
      name: this.graph.fresh(`${base}/node`),
      domain: options.domain ?? "",
    });
    return outputs;
  }

  /** Adds a parameter (trainable weight) named `local` in the current scope. */
  param(local: string, tensor: Tensor): string {
    const name = this.qualify(local);
    if (this.graph.initializers.has(name)) throw new Error(`parameter ${name} defined twice`);
    this.graph.addInitializer(name, tensor, true);
    return name;
  }

  /** A constant tensor (deduplicated when small). */
  constant(tensor: Tensor): string {
    const small = tensor.data.length <= 16;
    const key = small
      ? `${tensor.dtype}|${tensor.dims}|${Array.from(tensor.data as ArrayLike<unknown>).join(",")}`
      : "";
    if (small) {
      const hit = this.#constants.get(key);
      if (hit) return hit;
    }
    const name = this.graph.fresh("const");
    this.graph.addInitializer(name, tensor);
    if (small) this.#constants.set(key, name);
    return name;
  }

  /** A floating-point constant of the builder's dtype (or `dtype`) with the given dims (default scalar). */
  scalar(value: number, dtype: DataType = this.dtype, dims: number[] = []): string {
    const data = allocate(dtype, numel(dims));
    (data as Float32Array).fill(value);
    return this.constant({ dtype, dims, data });
  }

  /** A 1-D int64 constant (axes, shapes, pads, slice bounds). */
  ints(values: number[]): string {
    return this.constant({
      dtype: DataType.INT64,
      dims: [values.length],
      data: BigInt64Array.from(values, (v) => BigInt(v)),
    });
  }

  /** A float tensor constant of the builder's dtype. */
  floats(dims: number[], values: ArrayLike<number>): string {
    const data = allocate(this.dtype, numel(dims)) as Float32Array;
    data.set(values);
    return this.constant({ dtype: this.dtype, dims, data });
  }
}
