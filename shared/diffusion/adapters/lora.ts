import { DataType, numel, type Tensor, type TensorProto } from "../../ml/onnx/index.js";
import { float16ToFloat32 } from "../models/float16.js";
import type { LoraComponent, LoraLayer } from "./lora-keys.js";
import { floatInitializer, readFloatInitializer, type WeightRef } from "./onnx-weights.js";

/** A LoRA file's layers with the strength to apply them at. */
export interface LoraAdapter {
  readonly layers: readonly LoraLayer[];
  /** Multiplier on every layer's alpha / rank scale (diffusers' `lora_scale`, kohya's multiplier); default 1. */
  readonly scale?: number;
}

function floats(t: Tensor, what: string): Float32Array {
  if (t.data instanceof Float32Array) return t.data;
  if (t.data instanceof Float64Array) return Float32Array.from(t.data);
  if (t.data instanceof Uint16Array && t.dtype === DataType.FLOAT16) return float16ToFloat32(t.data);
  if (t.data instanceof Uint16Array && t.dtype === DataType.BFLOAT16) {
    // bfloat16: the high half of a float32.
    return new Float32Array(Uint32Array.from(t.data, (b) => b << 16).buffer);
  }
  throw new Error(`${what}: LoRA weights must be float32, float16, bfloat16 or float64`);
}

/** Resolves a layer's module to the model's weight: a path as is, kohya's flattened names by lookup. */
export function resolveModule(
  layer: LoraLayer,
  index: ReadonlyMap<string, WeightRef>,
  flattened: ReadonlyMap<string, WeightRef>,
): WeightRef | undefined {
  if (!layer.flattened) return index.get(layer.name);
  return flattened.get(layer.name) ?? flattened.get(`text_model_${layer.name}`);
}

/** kohya's flattened name of every module of an index (`a.b_c.0` → `a_b_c_0`). */
export function flattenIndex(index: ReadonlyMap<string, WeightRef>): Map<string, WeightRef> {
  const out = new Map<string, WeightRef>();
  for (const ref of index.values()) out.set(ref.module.replaceAll(".", "_"), ref);
  return out;
}

/**
 * ΔW = scale · alpha / rank · up · down in torch layout, flattened [out, in·kh·kw]. Accumulated in float64.
 */
export function loraDelta(
  layer: LoraLayer,
  multiplier: number,
): { delta: Float64Array; out: number; inner: number } {
  const rank = layer.down.dims[0];
  if (layer.up.dims[1] !== rank) {
    throw new Error(
      `LoRA ${layer.name}: up ${JSON.stringify(layer.up.dims)} and down ${JSON.stringify(layer.down.dims)} ranks differ`,
    );
  }
  if (layer.up.dims.length === 4 && (layer.up.dims[2] !== 1 || layer.up.dims[3] !== 1)) {
    throw new Error(`LoRA ${layer.name}: only 1×1 up convolutions are supported`);
  }
  const out = layer.up.dims[0];
  const inner = numel(layer.down.dims) / rank;
  const down = floats(layer.down, layer.name);
  const up = floats(layer.up, layer.name);
  const scale = (multiplier * (layer.alpha ?? rank)) / rank;
  const delta = new Float64Array(out * inner);
  for (let o = 0; o < out; o++) {
    for (let r = 0; r < rank; r++) {
      const u = up[o * rank + r] * scale;
      if (u === 0) continue;
      const row = r * inner;
      for (let i = 0; i < inner; i++) delta[o * inner + i] += u * down[row + i];
    }
  }
  return { delta, out, inner };
}

/**
 * Adds ΔW to a weight stored in `ref.layout` (for "in_out" the transpose is added); the weight's own shape
 * must hold out × inner values in that layout.
 */
export function addDelta(
  weight: Float32Array,
  ref: WeightRef,
  delta: Float64Array,
  out: number,
  inner: number,
): void {
  const [d0, d1] = ref.dims;
  const fits =
    ref.layout === "in_out"
      ? d0 === inner && d1 === out
      : ref.layout === "conv"
        ? d0 === out && numel(ref.dims) === out * inner
        : d0 === out && d1 === inner;
  if (!fits || weight.length !== out * inner) {
    throw new Error(
      `LoRA for ${ref.module}: ΔW is ${out}×${inner}, the weight ${ref.initializer} is ${JSON.stringify(ref.dims)} (${ref.layout})`,
    );
  }
  if (ref.layout === "in_out") {
    for (let o = 0; o < out; o++) for (let i = 0; i < inner; i++) weight[i * out + o] += delta[o * inner + i];
  } else {
    for (let k = 0; k < weight.length; k++) weight[k] += delta[k];
  }
}

/**
 * Merges the LoRA layers of `component` into a model's weights: returns replacement initializers
 * (W + Σ scale·ΔW, in the weight's dtype) keyed by initializer name. Throws when a layer's module is not in the
 * model (so a mismatched adapter never applies partially).
 */
export async function mergeLoraWeights(
  component: LoraComponent,
  adapters: readonly LoraAdapter[],
  index: ReadonlyMap<string, WeightRef>,
  initializers: ReadonlyMap<string, TensorProto>,
  modelPath: string,
): Promise<Map<string, TensorProto>> {
  const flattened = flattenIndex(index);
  const pending = new Map<
    string,
    { ref: WeightRef; deltas: { delta: Float64Array; out: number; inner: number }[] }
  >();
  const missing: string[] = [];
  for (const adapter of adapters) {
    for (const layer of adapter.layers) {
      if (layer.component !== component) continue;
      const ref = resolveModule(layer, index, flattened);
      if (!ref || ref.layout === "embedding") {
        missing.push(layer.name);
        continue;
      }
      const entry = pending.get(ref.initializer) ?? { ref, deltas: [] };
      entry.deltas.push(loraDelta(layer, adapter.scale ?? 1));
      pending.set(ref.initializer, entry);
    }
  }
  if (missing.length > 0) {
    throw new Error(
      `LoRA modules not found in the ${component} (or fused there): ${missing.slice(0, 5).join(", ")}${missing.length > 5 ? ", …" : ""}`,
    );
  }
  const replacements = new Map<string, TensorProto>();
  for (const [name, { ref, deltas }] of pending) {
    const tensor = initializers.get(name);
    if (!tensor) throw new Error(`initializer ${name} disappeared`);
    const weight = await readFloatInitializer(tensor, modelPath);
    for (const d of deltas) addDelta(weight, ref, d.delta, d.out, d.inner);
    replacements.set(name, floatInitializer(tensor, weight));
  }
  return replacements;
}
