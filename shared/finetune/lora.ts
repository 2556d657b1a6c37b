import type { LoraComponent, LoraLayer, WeightRef } from "../diffusion/adapters/index.js";
import { type Graph, GraphBuilder, insertAfter, type Node } from "../ml/graph/index.js";
import { normal, zeros } from "../ml/nn/index.js";
import { DataType, type Tensor } from "../ml/onnx/index.js";

/** Module names (last path parts) LoRA targets in the UNet: the paper's DreamBooth-LoRA set. */
export const UNET_LORA_TARGETS: readonly string[] = Object.freeze([
  "to_q",
  "to_k",
  "to_v",
  "to_out.0",
  "add_k_proj",
  "add_v_proj",
]);

/**
 * Module names LoRA targets in the text encoder: CLIP's attention projections (diffusers'
 * `q_proj, k_proj, v_proj, out_proj`) and the diffusers-style names of the bundled kit's encoder.
 */
export const TEXT_ENCODER_LORA_TARGETS: readonly string[] = Object.freeze([
  "q_proj",
  "k_proj",
  "v_proj",
  "out_proj",
  "to_q",
  "to_k",
  "to_v",
  "to_out.0",
]);

/** Settings of the LoRA adapters of one run. */
export interface LoraSettings {
  /** Rank r (default 8). */
  readonly rank: number;
  /** Scale = alpha / rank (default alpha = rank). */
  readonly alpha: number;
  /** Seed of A's gaussian init. */
  readonly seed: number;
}

/** One LoRA path added to a training graph: y = x·W + (alpha/r)·(x·A)·B. */
export interface LoraParam {
  readonly component: LoraComponent;
  /** Torch module path (`down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q`). */
  readonly module: string;
  /** A: [in, r] parameter, gaussian with std 1/r (PEFT's "gaussian" init). */
  readonly down: string;
  /** B: [r, out] parameter, zeros (the adapted model starts equal to the base). */
  readonly up: string;
  readonly rank: number;
  readonly alpha: number;
}

/** Whether a module path ends in one of `names` (PEFT's `target_modules` suffix match). */
export function matchesTarget(module: string, names: readonly string[]): boolean {
  return names.some((n) => module === n || module.endsWith(`.${n}`));
}

const PASS_THROUGH = new Set(["Transpose", "Cast", "Identity"]);

/** The weight initializer a MatMul/Gemm's B input reads (through Transpose/Cast/Identity), if any. */
function weightOf(node: Node, graph: Graph, producers: Map<string, Node>): string | undefined {
  let value = node.inputs[1];
  for (let hops = 0; hops < 4 && value; hops++) {
    if (graph.initializers.has(value)) return value;
    const p = producers.get(value);
    if (!p || !PASS_THROUGH.has(p.op)) return undefined;
    value = p.inputs[0];
  }
  return undefined;
}

function featureSizes(ref: WeightRef): [number, number] {
  const [d0, d1] = ref.dims;
  return ref.layout === "in_out" ? [d0, d1] : [d1, d0];
}

/**
 * Adds LoRA paths to the Linear modules of `component` whose names match `targets`, wherever their weight
 * feeds a MatMul or a Gemm (named or anonymous weights, either layout, through Transposes). Parameter names
 * are the PEFT keys (`unet.<module>.lora_A.weight`, stored here as [in, r] and [r, out]). A Gemm's `alpha`
 * multiplies the update too, so the trained graph equals merging ΔW into the weight. Throws when nothing
 * matches.
 */
export function addLoraPaths(
  graph: Graph,
  component: LoraComponent,
  modules: ReadonlyMap<string, WeightRef>,
  targets: readonly string[],
  settings: LoraSettings,
): LoraParam[] {
  const byWeight = new Map<string, WeightRef>();
  for (const ref of modules.values()) {
    if ((ref.layout === "in_out" || ref.layout === "out_in") && matchesTarget(ref.module, targets))
      byWeight.set(ref.initializer, ref);
  }
  const { rank, alpha } = settings;
  const scale = alpha / rank;
  const producers = graph.producers();
  const params = new Map<string, LoraParam>();
  for (const node of [...graph.nodes]) {
    if (node.op !== "MatMul" && node.op !== "Gemm") continue;
    if (node.op === "Gemm" && Number(node.attrs.transA?.value ?? 0) !== 0) continue;
    const weight = weightOf(node, graph, producers);
    const ref = weight ? byWeight.get(weight) : undefined;
    if (!ref) continue;
    const [fin, fout] = featureSizes(ref);
    const b = new GraphBuilder({ graph, seed: settings.seed * 7919 + params.size });
    insertAfter(graph, node, () => {
      let param = params.get(ref.module);
      if (!param) {
        const key = `${component}.${ref.module}`;
        param = {
          component,
          module: ref.module,
          down: b.param(`${key}.lora_A.weight`, normal(b.rng, DataType.FLOAT, [fin, rank], 1 / rank)),
          up: b.param(`${key}.lora_B.weight`, zeros(DataType.FLOAT, [rank, fout])),
          rank,
          alpha,
        };
        params.set(ref.module, param);
      }
      const out = node.outputs[0];
      const original = graph.fresh(`${out}/base`);
      node.outputs[0] = original;
      let delta = b.op("MatMul", [b.op("MatMul", [node.inputs[0], param.down]), param.up]);
      const gemmAlpha = node.op === "Gemm" && node.attrs.alpha?.kind === "float" ? node.attrs.alpha.value : 1;
      if (scale * gemmAlpha !== 1) delta = b.op("Mul", [delta, b.scalar(scale * gemmAlpha)]);
      b.op("Add", [original, delta], {}, { outputs: [out] });
    });
  }
  if (params.size === 0)
    throw new Error(`no ${component} Linear module matches the LoRA targets ${targets.join(", ")}`);
  return [...params.values()];
}

function transpose(t: Tensor): Tensor {
  const [rows, cols] = t.dims;
  const src = t.data as Float32Array;
  const out = new Float32Array(src.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = src[r * cols + c];
  return { dtype: DataType.FLOAT, dims: [cols, rows], data: out };
}

/**
 * Trained LoRA parameters as the adapters module's layers (torch layout: down [r, in], up [out, r]), ready
 * for `withAdapters` or a file.
 */
export function loraLayers(params: readonly LoraParam[], values: ReadonlyMap<string, Tensor>): LoraLayer[] {
  return params.map((p) => {
    const down = values.get(p.down);
    const up = values.get(p.up);
    if (!down || !up) throw new Error(`LoRA ${p.module}: trained values missing`);
    return {
      component: p.component,
      name: p.module,
      flattened: false,
      down: transpose(down),
      up: transpose(up),
      alpha: p.alpha,
    };
  });
}

/** Key conventions a LoRA file can be written in. */
export type LoraKeyFormat = "peft" | "kohya";

/**
 * A LoRA state dict: PEFT / diffusers keys (`unet.<module>.lora_A.weight`, `lora_B.weight`, and
 * `<module>.alpha` only where alpha ≠ rank, since PEFT files carry alpha in their config) or kohya keys
 * (`lora_unet_<flattened>.lora_down.weight`, `.lora_up.weight`, `.alpha`; `lora_te_` for the text encoder).
 */
export function loraStateDict(layers: readonly LoraLayer[], format: LoraKeyFormat): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const layer of layers) {
    const rank = layer.down.dims[0];
    const alpha = layer.alpha ?? rank;
    const alphaTensor: Tensor = { dtype: DataType.FLOAT, dims: [], data: Float32Array.of(alpha) };
    if (format === "peft") {
      const key = `${layer.component}.${layer.name}`;
      out.set(`${key}.lora_A.weight`, layer.down);
      out.set(`${key}.lora_B.weight`, layer.up);
      if (alpha !== rank) out.set(`${key}.alpha`, alphaTensor);
    } else {
      const key = `lora_${layer.component === "unet" ? "unet" : "te"}_${layer.name.replaceAll(".", "_")}`;
      out.set(`${key}.lora_down.weight`, layer.down);
      out.set(`${key}.lora_up.weight`, layer.up);
      out.set(`${key}.alpha`, alphaTensor);
    }
  }
  return out;
}
