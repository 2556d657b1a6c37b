import { open, readFile } from "node:fs/promises";
import { dirname, isAbsolute, join, normalize } from "node:path";
import { indexModuleWeights, type WeightRef } from "../diffusion/adapters/index.js";
import { float16ToFloat32 } from "../diffusion/models/index.js";
import { fromModel, type Graph, inferTypes } from "../ml/graph/index.js";
import { DataType, decodeModel, dtypeSize, type ModelProto, numel, type Tensor } from "../ml/onnx/index.js";

/** One ONNX component of a model folder, decoded for training. */
export interface ComponentGraph {
  /** The graph, computing in float32 (float16 weights, inputs and casts widened). */
  readonly graph: Graph;
  /** Linear / Conv / embedding weights by torch module path (the adapters module's name resolution). */
  readonly modules: ReadonlyMap<string, WeightRef>;
  /** True when the export stored float16 weights (a fine-tuned UNet is written back in float16). */
  readonly float16: boolean;
}

/**
 * Replaces external-data references (Optimum's `model.onnx_data`, SD's per-tensor files) by the bytes they
 * point to, read from the model's folder. Paths leaving the folder are refused.
 */
export async function inlineExternalData(model: ModelProto, modelPath: string): Promise<ModelProto> {
  const files = new Map<string, Awaited<ReturnType<typeof open>>>();
  try {
    for (const t of model.graph.initializer) {
      if (t.dataLocation !== 1 && !t.externalData?.length) continue;
      const entries = new Map((t.externalData ?? []).map((e) => [e.key, e.value]));
      const location = entries.get("location");
      if (!location) throw new Error(`initializer ${t.name}: external data without a location`);
      const relative = normalize(location);
      if (relative.startsWith("..") || isAbsolute(relative))
        throw new Error(`initializer ${t.name}: external data path ${location} leaves the model folder`);
      let file = files.get(relative);
      if (!file) {
        file = await open(join(dirname(modelPath), relative), "r");
        files.set(relative, file);
      }
      const length = Number(entries.get("length") ?? numel(t.dims) * dtypeSize(t.dataType as DataType));
      const bytes = new Uint8Array(length);
      const { bytesRead } = await file.read(bytes, 0, length, Number(entries.get("offset") ?? 0));
      if (bytesRead !== length) throw new Error(`initializer ${t.name}: external data file is too short`);
      t.rawData = bytes;
      t.externalData = undefined;
      t.dataLocation = undefined;
    }
  } finally {
    await Promise.all([...files.values()].map((f) => f.close()));
  }
  return model;
}

function widen(t: Tensor): Tensor {
  return { dtype: DataType.FLOAT, dims: t.dims, data: float16ToFloat32(t.data as Uint16Array) };
}

/**
 * Makes a graph compute in float32 where its export used float16 (onnxruntime's CPU provider lacks most
 * float16 kernels, and training wants float32 weights and optimizer state anyway): float16 initializers,
 * inputs, outputs, Constant / ConstantOfShape values and Cast targets become float32. Returns true when
 * anything changed.
 */
export function widenFloat16(graph: Graph): boolean {
  let changed = false;
  for (const [name, t] of graph.initializers) {
    if (t.dtype === DataType.FLOAT16) {
      graph.initializers.set(name, widen(t));
      changed = true;
    }
  }
  for (const v of [...graph.inputs, ...graph.outputs, ...graph.valueInfo.values()]) {
    if (v.dtype === DataType.FLOAT16) {
      v.dtype = DataType.FLOAT;
      changed = true;
    }
  }
  for (const node of graph.nodes) {
    const to = node.attrs.to;
    if (node.op === "Cast" && to?.kind === "int" && Number(to.value) === DataType.FLOAT16) {
      node.attrs.to = { kind: "int", value: DataType.FLOAT };
      changed = true;
    }
    for (const [key, a] of Object.entries(node.attrs)) {
      if (a.kind === "tensor" && a.value.dtype === DataType.FLOAT16) {
        node.attrs[key] = { kind: "tensor", value: widen(a.value) };
        changed = true;
      }
    }
  }
  return changed;
}

/**
 * Drops Cast-to-float32 and Identity nodes whose input is already a float32 weight (what is left of an
 * fp16 export after {@link widenFloat16}), so weights feed their ops directly: row-restricted embedding
 * tables need the Gather to read the table itself.
 */
export function bypassWeightCasts(graph: Graph): void {
  const types = inferTypes(graph);
  const outputs = new Set(graph.outputs.map((o) => o.name));
  const rename = new Map<string, string>();
  graph.nodes = graph.nodes.filter((node) => {
    const source = node.inputs[0];
    const isNoop =
      (node.op === "Identity" ||
        (node.op === "Cast" &&
          node.attrs.to?.kind === "int" &&
          Number(node.attrs.to.value) === DataType.FLOAT &&
          types.get(source)?.dtype === DataType.FLOAT)) &&
      graph.params.has(source) &&
      !outputs.has(node.outputs[0]);
    if (isNoop) rename.set(node.outputs[0], source);
    return !isNoop;
  });
  if (rename.size === 0) return;
  for (const node of graph.nodes) node.inputs = node.inputs.map((i) => rename.get(i) ?? i);
}

/** Reads `model.onnx` of a component folder as a float32 training graph with its module index. */
export async function readComponentGraph(modelPath: string): Promise<ComponentGraph> {
  const proto = await inlineExternalData(decodeModel(await readFile(modelPath)), modelPath);
  const modules = indexModuleWeights(proto);
  const graph = fromModel(proto);
  const float16 = widenFloat16(graph);
  bypassWeightCasts(graph);
  return { graph, modules, float16 };
}
