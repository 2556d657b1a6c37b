import type { Tensor } from "../../ml/onnx/index.js";

/** The model part a LoRA layer patches. */
export type LoraComponent = "unet" | "text_encoder";

/**
 * A module name as a LoRA file spells it: a torch module path (`down_blocks.0.….to_q`), or kohya's flattened
 * form (`down_blocks_0_…_to_q`), which is ambiguous (module names contain underscores) and is resolved
 * against the modules the model actually has.
 */
export interface LoraModuleName {
  readonly component: LoraComponent;
  readonly name: string;
  readonly flattened: boolean;
}

/** One low-rank update ΔW = scale · up · down of a module. */
export interface LoraLayer extends LoraModuleName {
  /** A: [rank, in] (or [rank, in, kh, kw] for a conv). */
  readonly down: Tensor;
  /** B: [out, rank] (or [out, rank, 1, 1]). */
  readonly up: Tensor;
  /** The layer's alpha (scale alpha / rank); undefined → the file-level alpha, else rank (scale 1). */
  readonly alpha?: number;
}

/** diffusers' attention-processor names for the projections (`to_q_lora` → `to_q`, `to_out_lora` → `to_out.0`). */
const PROCESSOR_TARGETS: Record<string, string> = {
  to_q_lora: "to_q",
  to_k_lora: "to_k",
  to_v_lora: "to_v",
  to_out_lora: "to_out.0",
  add_k_proj_lora: "add_k_proj",
  add_v_proj_lora: "add_v_proj",
};

type Part = "down" | "up" | "alpha";

interface ParsedKey {
  readonly module: LoraModuleName;
  readonly part: Part;
}

const COMPONENT_PREFIXES: [string, LoraComponent][] = [
  ["unet.", "unet"],
  ["text_encoder.", "text_encoder"],
  ["base_model.model.", "unet"],
];

function splitComponent(key: string, fallback: LoraComponent): { component: LoraComponent; rest: string } {
  for (const [prefix, component] of COMPONENT_PREFIXES) {
    if (key.startsWith(prefix)) {
      const rest = key.slice(prefix.length);
      // PEFT text-encoder adapters: base_model.model.text_model.…
      if (prefix === "base_model.model." && rest.startsWith("text_model."))
        return { component: "text_encoder", rest };
      return { component: prefix === "base_model.model." ? fallback : component, rest };
    }
  }
  return { component: fallback, rest: key };
}

/**
 * Reads one state-dict key of a LoRA file. Conventions:
 * - PEFT / current diffusers: `unet.<module>.lora_A.weight` / `lora_B.weight` (also `lora_A.<adapter>.weight`,
 *   `base_model.model.<module>…`), `text_encoder.<module>.…`;
 * - older diffusers: `<module>.lora.down.weight` / `.lora.up.weight`, `<module>.lora_linear_layer.down.weight`,
 *   attention processors `<block>.processor.to_q_lora.down.weight`;
 * - kohya / sd-scripts: `lora_unet_<flattened>.lora_down.weight` / `.lora_up.weight` / `.alpha`,
 *   `lora_te_<flattened>…` (text encoder);
 * - `<module>.alpha` in any convention (diffusers' network alphas).
 * Returns undefined for keys that are not LoRA weights (callers report them).
 */
export function parseLoraKey(key: string, fallback: LoraComponent = "unet"): ParsedKey | undefined {
  const kohya = /^lora_(unet|te1?)_(.+?)\.(lora_down\.weight|lora_up\.weight|alpha)$/.exec(key);
  if (kohya) {
    const part: Part = kohya[3] === "alpha" ? "alpha" : kohya[3].startsWith("lora_down") ? "down" : "up";
    return {
      module: { component: kohya[1] === "unet" ? "unet" : "text_encoder", name: kohya[2], flattened: true },
      part,
    };
  }
  const { component, rest } = splitComponent(key, fallback);
  const patterns: [RegExp, (m: RegExpExecArray) => [string, Part]][] = [
    [/^(.+)\.lora_([AB])(?:\.[^.]+)?\.weight$/, (m) => [m[1], m[2] === "A" ? "down" : "up"]],
    [/^(.+)\.(?:lora|lora_linear_layer)\.(down|up)\.weight$/, (m) => [m[1], m[2] as Part]],
    [
      /^(.+)\.processor\.(to_q_lora|to_k_lora|to_v_lora|to_out_lora|add_k_proj_lora|add_v_proj_lora)\.(down|up)\.weight$/,
      (m) => [`${m[1]}.${PROCESSOR_TARGETS[m[2]]}`, m[3] as Part],
    ],
    [/^(.+?)(?:\.lora)?(?:\.down\.weight)?\.alpha$/, (m) => [m[1], "alpha"]],
  ];
  for (const [pattern, read] of patterns) {
    const m = pattern.exec(rest);
    if (m) {
      const [name, part] = read(m);
      return { module: { component, name, flattened: false }, part };
    }
  }
  return undefined;
}

function scalarValue(t: Tensor, key: string): number {
  if (t.data.length !== 1) throw new Error(`LoRA ${key}: alpha must be a scalar`);
  const v = t.data[0];
  return typeof v === "bigint" ? Number(v) : v;
}

/** Options of {@link parseLora}. */
export interface ParseLoraOptions {
  /** The component of keys without a component prefix (default "unet"). */
  readonly component?: LoraComponent;
  /** File-level alpha (PEFT's `lora_alpha` from adapter_config.json) for layers without their own. */
  readonly alpha?: number;
}

/**
 * Groups a LoRA state dict into layers (down, up, alpha per module). Throws on keys that are not LoRA
 * weights and on modules missing their down or up half, so a file of an unknown convention is never
 * half-applied.
 */
export function parseLora(tensors: ReadonlyMap<string, Tensor>, options: ParseLoraOptions = {}): LoraLayer[] {
  const groups = new Map<string, { module: LoraModuleName; down?: Tensor; up?: Tensor; alpha?: number }>();
  const unknown: string[] = [];
  for (const [key, tensor] of tensors) {
    const parsed = parseLoraKey(key, options.component);
    if (!parsed) {
      unknown.push(key);
      continue;
    }
    const id = `${parsed.module.component}|${parsed.module.flattened}|${parsed.module.name}`;
    let group = groups.get(id);
    if (!group) groups.set(id, (group = { module: parsed.module }));
    if (parsed.part === "alpha") group.alpha = scalarValue(tensor, key);
    else group[parsed.part] = tensor;
  }
  if (unknown.length > 0) {
    throw new Error(
      `not LoRA weights of a known convention: ${unknown.slice(0, 5).join(", ")}${unknown.length > 5 ? ", …" : ""}`,
    );
  }
  const layers: LoraLayer[] = [];
  for (const group of groups.values()) {
    const { down, up } = group;
    if (!down || !up) {
      throw new Error(`LoRA module ${group.module.name} has no ${down ? "up" : "down"} weight`);
    }
    layers.push({ ...group.module, down, up, alpha: group.alpha ?? options.alpha });
  }
  return layers;
}
