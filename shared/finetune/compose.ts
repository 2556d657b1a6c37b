import type { WeightRef } from "../diffusion/adapters/index.js";
import { Graph, GraphBuilder, type ValueInfo } from "../ml/graph/index.js";
import { mse } from "../ml/nn/index.js";
import { allocate, DataType } from "../ml/onnx/index.js";
import type { ComponentGraph } from "./graph-io.js";
import { TRAINING_OPSET, upgradeOpset } from "./opset.js";

/** Name prefixes of the two components inside a training graph. */
export const TEXT_ENCODER_PREFIX = "text_encoder/";
export const UNET_PREFIX = "unet/";

/** Input names of a training graph. */
export const TRAINING_INPUTS = Object.freeze({
  ids: "input_ids",
  sample: "noisy_latents",
  timestep: "timesteps",
  target: "target",
});

/** Sizes a training graph is built for (static: onnxruntime plans memory once). */
export interface TrainingShape {
  readonly batch: number;
  /** Token sequence length of the text encoder. */
  readonly sequenceLength: number;
  /** The UNet's input channels, its output (latent) channels and the latent size. */
  readonly channels: number;
  readonly outChannels: number;
  readonly height: number;
  readonly width: number;
}

/** Text encoder → UNet → noise-prediction MSE, as one graph. */
export interface TrainingGraph {
  readonly graph: Graph;
  readonly loss: string;
  /** The declared inputs: token ids, noisy latents, timesteps, the regression target. */
  readonly ids: ValueInfo;
  readonly sample: ValueInfo;
  readonly timestep: ValueInfo;
  readonly target: ValueInfo;
  /** Each component's module weights, initializer names as in this graph. */
  readonly modules: {
    readonly unet: ReadonlyMap<string, WeightRef>;
    readonly text_encoder: ReadonlyMap<string, WeightRef>;
  };
}

const INTEGER = new Set<number>([DataType.INT32, DataType.INT64]);

function prefixed(
  source: Graph,
  prefix: string,
  rename: ReadonlyMap<string, string>,
): { nodes: Graph["nodes"]; name: (n: string) => string } {
  const name = (n: string) => (n === "" ? n : (rename.get(n) ?? `${prefix}${n}`));
  const nodes = source.nodes.map((node) => ({
    ...node,
    inputs: node.inputs.map(name),
    outputs: node.outputs.map(name),
    attrs: { ...node.attrs },
    name: node.name ? `${prefix}${node.name}` : node.name,
  }));
  return { nodes, name };
}

function prefixModules(modules: ReadonlyMap<string, WeightRef>, prefix: string): Map<string, WeightRef> {
  return new Map([...modules].map(([m, ref]) => [m, { ...ref, initializer: `${prefix}${ref.initializer}` }]));
}

/** Removes nodes, initializers and inputs that `keep` does not depend on. */
export function pruneTo(graph: Graph, keep: readonly string[]): void {
  const needed = new Set(keep);
  const kept: Graph["nodes"] = [];
  for (let k = graph.nodes.length - 1; k >= 0; k--) {
    const node = graph.nodes[k];
    if (!node.outputs.some((o) => needed.has(o))) continue;
    kept.push(node);
    for (const i of node.inputs) if (i) needed.add(i);
  }
  graph.nodes = kept.reverse();
  for (const name of [...graph.initializers.keys()]) {
    if (!needed.has(name)) {
      graph.initializers.delete(name);
      graph.params.delete(name);
    }
  }
  graph.inputs = graph.inputs.filter((v) => needed.has(v.name));
}

/**
 * Joins a text encoder and a UNet into one graph: token ids → `last_hidden_state` → the UNet's
 * `encoder_hidden_states`; noisy latents and timesteps → the UNet; loss = mean((prediction − target)²).
 * Names of each component get a prefix ({@link TEXT_ENCODER_PREFIX}, {@link UNET_PREFIX}); the inputs are
 * {@link TRAINING_INPUTS}, with static shapes. An `attention_mask` input of the text encoder is fed ones
 * (as diffusers does for SD 1.x). Both components are raised to a common opset ≥ 18. The components are
 * not modified.
 */
export function composeTrainingGraph(
  textEncoder: ComponentGraph,
  unet: ComponentGraph,
  shape: TrainingShape,
): TrainingGraph {
  const te = textEncoder.graph.clone();
  const un = unet.graph.clone();
  const opset = Math.max(TRAINING_OPSET, te.opsets.get("") ?? 0, un.opsets.get("") ?? 0);
  upgradeOpset(te, opset);
  upgradeOpset(un, opset);

  const ids = te.inputs.find((v) => v.name === "input_ids") ?? te.inputs.find((v) => INTEGER.has(v.dtype));
  if (!ids) throw new Error("the text encoder has no integer token-id input");
  const mask = te.inputs.find((v) => v.name === "attention_mask");
  const extra = te.inputs.filter((v) => v !== ids && v !== mask);
  if (extra.length > 0)
    throw new Error(`text encoder: unexpected inputs ${extra.map((v) => v.name).join(", ")}`);
  const hidden = te.outputs.find((v) => v.name === "last_hidden_state") ?? te.outputs[0];

  const need = (n: string) => {
    const v = un.inputs.find((i) => i.name === n);
    if (!v) throw new Error(`the UNet has no input ${n}`);
    return v;
  };
  const sample = need("sample");
  const timestep = need("timestep");
  const context = need("encoder_hidden_states");
  const others = un.inputs.filter((v) => v !== sample && v !== timestep && v !== context);
  if (others.length > 0)
    throw new Error(`UNet: unsupported extra inputs ${others.map((v) => v.name).join(", ")}`);
  if ((timestep.shape?.length ?? 0) > 1) throw new Error("UNet: timestep must have rank 0 or 1");
  const prediction = un.outputs.find((v) => v.name === "out_sample") ?? un.outputs[0];

  const teNames = prefixed(te, TEXT_ENCODER_PREFIX, new Map([[ids.name, TRAINING_INPUTS.ids]]));
  const hiddenName = teNames.name(hidden.name);
  const unNames = prefixed(
    un,
    UNET_PREFIX,
    new Map([
      [sample.name, TRAINING_INPUTS.sample],
      [timestep.name, TRAINING_INPUTS.timestep],
      [context.name, hiddenName],
    ]),
  );

  const g = new Graph("finetune");
  g.opsets = new Map([...te.opsets, ...un.opsets]);
  g.opsets.set("", opset);
  for (const [source, names] of [
    [te, teNames],
    [un, unNames],
  ] as const) {
    for (const [name, t] of source.initializers)
      g.addInitializer(names.name(name), t, source.params.has(name));
    for (const node of names.nodes) g.addNode(node);
  }
  const { batch, sequenceLength, channels, outChannels, height, width } = shape;
  const inputs = {
    ids: { name: TRAINING_INPUTS.ids, dtype: ids.dtype, shape: [batch, sequenceLength] },
    sample: { name: TRAINING_INPUTS.sample, dtype: DataType.FLOAT, shape: [batch, channels, height, width] },
    timestep: {
      name: TRAINING_INPUTS.timestep,
      dtype: timestep.dtype,
      shape: (timestep.shape?.length ?? 0) === 0 ? [] : [batch],
    },
    target: {
      name: TRAINING_INPUTS.target,
      dtype: DataType.FLOAT,
      shape: [batch, outChannels, height, width],
    },
  };
  if (mask) {
    const ones = allocate(mask.dtype, batch * sequenceLength);
    if (ones instanceof BigInt64Array) ones.fill(1n);
    else (ones as Int32Array).fill(1);
    g.addInitializer(teNames.name(mask.name), {
      dtype: mask.dtype,
      dims: [batch, sequenceLength],
      data: ones,
    });
  }
  const b = new GraphBuilder({ graph: g });
  const predictionName = unNames.name(prediction.name);
  for (const v of [inputs.ids, inputs.sample, inputs.timestep, inputs.target]) g.addInput(v);
  const loss = b.op("Identity", [mse(b, predictionName, TRAINING_INPUTS.target)], {}, { outputs: ["loss"] });
  g.addOutput({ name: loss, dtype: DataType.FLOAT, shape: [] });
  pruneTo(g, [loss]);
  return {
    graph: g,
    loss,
    ...inputs,
    modules: {
      unet: prefixModules(unet.modules, UNET_PREFIX),
      text_encoder: prefixModules(textEncoder.modules, TEXT_ENCODER_PREFIX),
    },
  };
}
