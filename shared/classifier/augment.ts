import { type AugmentOptions, DEFAULT_AUGMENT, type MixOptions } from "../data/index.js";

/**
 * The non-diffusion baselines by name: `none` (the no-augmentation baseline), `flip-crop` (random
 * horizontal flip p = 0.5 and a random crop after 4 px of zero padding), and `mixup` / `cutmix` / `mix`
 * (flip-crop plus MixUp, CutMix or either one on half of the batches with α = 1: the paper's
 * "traditional augmentation", docs/methods.md#utilization).
 */
export type AugmentPreset = "none" | "flip-crop" | "mixup" | "cutmix" | "mix";

/** Per-image augmentation and batch mixing, as {@link batches} takes them. */
export interface AugmentSpec {
  readonly augment?: AugmentOptions;
  readonly mix?: MixOptions;
}

/** Every preset name. */
export const AUGMENT_PRESETS: readonly AugmentPreset[] = ["none", "flip-crop", "mixup", "cutmix", "mix"];

/** The batch options of a preset (a spec passes through unchanged). */
export function augmentSpec(preset: AugmentPreset | AugmentSpec): AugmentSpec {
  if (typeof preset !== "string") return preset;
  switch (preset) {
    case "none":
      return {};
    case "flip-crop":
      return { augment: DEFAULT_AUGMENT };
    case "mixup":
      return { augment: DEFAULT_AUGMENT, mix: { mode: "mixup", alpha: 1, probability: 0.5 } };
    case "cutmix":
      return { augment: DEFAULT_AUGMENT, mix: { mode: "cutmix", alpha: 1, probability: 0.5 } };
    case "mix":
      return { augment: DEFAULT_AUGMENT, mix: { mode: "either", alpha: 1, probability: 0.5 } };
    default:
      throw new Error(`unknown augmentation preset ${JSON.stringify(preset)}`);
  }
}
