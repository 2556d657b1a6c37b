import { readFile } from "node:fs/promises";
import { decodeModel, numel, type Tensor } from "../../ml/onnx/index.js";
import { tokenEmbedding } from "./apply.js";
import { flattenIndex, resolveModule } from "./lora.js";
import { type LoraComponent, type LoraLayer, parseLoraKey } from "./lora-keys.js";
import { indexModuleWeights, type WeightRef } from "./onnx-weights.js";
import type { TextualInversion } from "./textual-inversion.js";

/** The first thing of an adapter file that does not fit the model: the file's key and why. */
export interface AdapterMismatch {
  /** The safetensors key at fault. */
  readonly key: string;
  /** What is wrong, in words. */
  readonly reason: string;
  /** The shape the model needs there, when the fault is a shape. */
  readonly expected?: readonly number[];
  /** The shape the file holds there. */
  readonly found?: readonly number[];
}

/** A component's mergeable weights, indexed the way merging resolves them (read once, no weights loaded). */
export interface ComponentWeights {
  readonly index: ReadonlyMap<string, WeightRef>;
  readonly flattened: ReadonlyMap<string, WeightRef>;
  /** The token-embedding table (text encoder only); undefined when there is none to extend. */
  readonly tokenTable?: WeightRef;
}

/** Indexes a component's `model.onnx` as {@link mergeLoraWeights} and {@link withAdapters} do. */
export async function readComponentWeights(
  modelPath: string,
  withTokenTable = false,
): Promise<ComponentWeights> {
  const proto = decodeModel(await readFile(modelPath));
  const index = indexModuleWeights(proto);
  let tokenTable: WeightRef | undefined;
  if (withTokenTable) {
    try {
      tokenTable = tokenEmbedding(proto, index);
    } catch {
      tokenTable = undefined;
    }
  }
  return { index, flattened: flattenIndex(index), tokenTable };
}

function moduleId(component: LoraComponent, flattened: boolean, name: string): string {
  return `${component}|${flattened}|${name}`;
}

/** The file's down and up keys of every module, as {@link parseLora} groups them. */
function loraKeys(tensors: ReadonlyMap<string, Tensor>, fallback: LoraComponent) {
  const keys = new Map<string, { down?: string; up?: string }>();
  for (const key of tensors.keys()) {
    const parsed = parseLoraKey(key, fallback);
    if (!parsed || parsed.part === "alpha") continue;
    const id = moduleId(parsed.module.component, parsed.module.flattened, parsed.module.name);
    const entry = keys.get(id) ?? {};
    entry[parsed.part] = key;
    keys.set(id, entry);
  }
  return keys;
}

/** The weight's [out] and inner dims (what one input row holds) in torch order, by layout. */
function torchShape(ref: WeightRef): { out: number; inner: readonly number[] } {
  const [d0, d1] = ref.dims;
  if (ref.layout === "in_out") return { out: d1, inner: [d0] };
  if (ref.layout === "conv") return { out: d0, inner: ref.dims.slice(1) };
  return { out: d0, inner: [d1] };
}

function layerMismatch(layer: LoraLayer, ref: WeightRef, keys: { down: string; up: string }) {
  const rank = layer.down.dims[0];
  const { out, inner } = torchShape(ref);
  const upExpected = layer.up.dims.length === 4 ? [out, rank, 1, 1] : [out, rank];
  const upFits =
    layer.up.dims.length === upExpected.length && layer.up.dims.every((d, i) => d === upExpected[i]);
  if (!upFits) {
    return {
      key: keys.up,
      reason: `does not fit ${ref.module} (${ref.initializer})`,
      expected: upExpected,
      found: layer.up.dims,
    };
  }
  if (numel(layer.down.dims) / rank !== numel(inner)) {
    return {
      key: keys.down,
      reason: `does not fit ${ref.module} (${ref.initializer})`,
      expected: [rank, ...inner],
      found: layer.down.dims,
    };
  }
  return undefined;
}

/**
 * The first LoRA layer that would not merge: its module is not among the component's mergeable weights
 * (resolved like {@link mergeLoraWeights}, kohya names included), or its up / down shape does not give
 * a ΔW of the weight's shape. Layers are visited in file order.
 */
export function loraMismatch(
  tensors: ReadonlyMap<string, Tensor>,
  layers: readonly LoraLayer[],
  fallback: LoraComponent,
  weights: Readonly<Record<LoraComponent, ComponentWeights>>,
): AdapterMismatch | undefined {
  const keysOf = loraKeys(tensors, fallback);
  for (const layer of layers) {
    const keys = keysOf.get(moduleId(layer.component, layer.flattened, layer.name));
    const down = keys?.down ?? layer.name;
    const up = keys?.up ?? layer.name;
    const { index, flattened } = weights[layer.component];
    const ref = resolveModule(layer, index, flattened);
    if (!ref || ref.layout === "embedding") {
      return {
        key: down,
        reason: `module ${layer.name} is not a mergeable weight of the ${layer.component}`,
      };
    }
    const mismatch = layerMismatch(layer, ref, { down, up });
    if (mismatch) return mismatch;
  }
  return undefined;
}

/**
 * The first textual-inversion concept whose vectors do not fit the text encoder's token-embedding table
 * (its width), or the reason none can be added. `keyOf` maps a concept to the file key it came from.
 */
export function textualInversionMismatch(
  concepts: readonly TextualInversion[],
  keyOf: (concept: TextualInversion) => string,
  textEncoder: ComponentWeights,
): AdapterMismatch | undefined {
  const table = textEncoder.tokenTable;
  for (const c of concepts) {
    if (!table) return { key: keyOf(c), reason: "the text encoder has no token-embedding table to extend" };
    const dim = table.dims[1];
    if (c.dim !== dim) {
      return {
        key: keyOf(c),
        reason: `embedding width ${c.dim} does not fit the text encoder's ${dim}`,
        expected: c.count === 1 ? [dim] : [c.count, dim],
        found: c.count === 1 ? [c.dim] : [c.count, c.dim],
      };
    }
  }
  return undefined;
}
