/**
 * The command line's quick overrides applied to a job's methods: fewer synthetic images per real one,
 * fewer denoising steps, shorter fine-tuning. A block is only set where the method's fine-tuning takes
 * it (the gateway refuses a parameter its component does not take), which the presets of
 * `GET /v1/methods` tell.
 */
import type { MethodRequest } from "./types.js";

/** Overrides from the command line. */
export interface QuickOverrides {
  /** Synthetic images per real image. */
  readonly perReal?: number;
  /** Denoising steps. */
  readonly inferenceSteps?: number;
  /** Steps of each fine-tuning stage (TI, LoRA, full UNet). */
  readonly finetuneSteps?: number;
}

/** The components of a preset, as `GET /v1/methods` lists them. */
export interface PresetComponents {
  readonly id: string;
  readonly kind: "diffda" | "baseline";
  readonly finetuning: { readonly method: string };
}

const FINETUNE_BLOCKS: Readonly<Record<string, readonly string[]>> = {
  textual_inversion: ["textualInversion"],
  ti_lora: ["textualInversion", "lora"],
  text_encoder_lora: ["lora"],
  full_unet: ["fullUnet"],
};

/** `method` with `overrides` merged into its request (its own settings win). */
export function applyOverrides(
  method: MethodRequest,
  overrides: QuickOverrides,
  presets: readonly PresetComponents[],
): MethodRequest {
  const preset = presets.find((p) => p.id === method.preset);
  if (preset?.kind === "baseline") return method;
  const out: MethodRequest = { ...method };
  if (overrides.perReal !== undefined || overrides.inferenceSteps !== undefined) {
    const generation = { ...(method.generation ?? {}) } as Record<string, unknown>;
    if (overrides.perReal !== undefined) generation.syntheticPerReal ??= overrides.perReal;
    if (overrides.inferenceSteps !== undefined) {
      generation.sampling = {
        numInferenceSteps: overrides.inferenceSteps,
        ...(generation.sampling as object),
      };
    }
    out.generation = generation;
  }
  if (overrides.finetuneSteps !== undefined) {
    const finetuneMethod = String(method.finetuning?.method ?? preset?.finetuning.method ?? "none");
    const blocks = FINETUNE_BLOCKS[finetuneMethod] ?? [];
    if (blocks.length > 0) {
      const finetuning = { ...(method.finetuning ?? {}) } as Record<string, unknown>;
      for (const block of blocks) {
        finetuning[block] = { maxTrainSteps: overrides.finetuneSteps, ...(finetuning[block] as object) };
      }
      out.finetuning = finetuning;
    }
  }
  return out;
}
