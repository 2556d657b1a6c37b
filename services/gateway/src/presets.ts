/**
 * The DiffDA methods as DATA: each published method is a preset of the three UniDiffDA components
 * (fine-tuning → generation → utilization), with the defaults of the paper's released configs
 * (docs/methods.md). The REST API lists them (`GET /v1/methods`), jobs start from them, the orchestrator
 * turns them into RPC requests, and a benchmark can iterate them. Nothing here runs anything.
 *
 * Defaults that vary per setting in the paper (strength, replacement probability) take the few-shot
 * CUB 5-shot column, the setting closest to diffda's few-shot tasks; `source` says so per preset.
 */

// The prompt lists live with the pipelines that use them, so a preset and a run cannot drift apart.
import { DIFFUSEMIX_PROMPTS } from "../../../shared/diffusion/pipelines/diffusemix.js";
import { GIF_ADJECTIVES, GIF_DOMAINS } from "../../../shared/diffusion/pipelines/gif.js";
import {
  type AnyModeParameters,
  type GenerationModeName,
  MODE_NAMES,
  type ModeParameters,
} from "../../../shared/generation-modes/specs.js";

/** Fine-tuning options (docs/methods.md#fine-tuning). */
export const FINETUNE_METHODS = [
  "none",
  "textual_inversion",
  "ti_lora",
  "text_encoder_lora",
  "full_unet",
] as const;
/** One of {@link FINETUNE_METHODS}. */
export type FinetuneMethod = (typeof FINETUNE_METHODS)[number];

/** Generation options (docs/methods.md#generation): the modes of shared/generation-modes, in listing order. */
export const GENERATION_MODES = MODE_NAMES;
/** One of {@link GENERATION_MODES}. */
type GenerationMode = GenerationModeName;

/** Utilization options: real only (baselines), FC, FR, LRR, GRR. */
export const UTILIZATION_MODES = ["real_only", "fc", "fr", "lrr", "grr"] as const;
/** One of {@link UTILIZATION_MODES}. */
type UtilizationMode = (typeof UTILIZATION_MODES)[number];

/** Non-diffusion augmentation on top of utilization. */
export const TRADITIONAL_AUGMENTATIONS = ["none", "flip_crop", "mixup", "cutmix"] as const;
/** One of {@link TRADITIONAL_AUGMENTATIONS}. */
export type TraditionalAugmentation = (typeof TRADITIONAL_AUGMENTATIONS)[number];

/** Schedulers the generation service names. */
export const SCHEDULERS = ["ddim", "ddpm", "dpm_solver_multistep", "euler_ancestral"] as const;
/** One of {@link SCHEDULERS}. */
type Scheduler = (typeof SCHEDULERS)[number];

/** Textual inversion settings. */
interface TextualInversionSpec {
  maxTrainSteps?: number;
  learningRate?: number;
  initializerToken?: string;
}

/** LoRA settings (UNet for ti_lora, text encoder for text_encoder_lora). */
interface LoraSpec {
  maxTrainSteps?: number;
  learningRate?: number;
  rank?: number;
  alpha?: number;
}

/** Full UNet fine-tuning settings. */
interface FullUnetSpec {
  maxTrainSteps?: number;
  learningRate?: number;
}

/** The fine-tuning component. */
export interface FinetuningSpec {
  method: FinetuneMethod;
  textualInversion?: TextualInversionSpec;
  lora?: LoraSpec;
  fullUnet?: FullUnetSpec;
  batchSize?: number;
  resolution?: number;
  templates?: string[];
}

/** Denoising settings shared by every generation mode. */
export interface SamplingSpec {
  scheduler?: Scheduler;
  numInferenceSteps?: number;
  guidanceScale?: number;
  promptTemplates?: string[];
  negativePrompt?: string;
}

/** What every generation mode takes besides its own parameters. */
interface GenerationCommon {
  /** Synthetic images per real image. */
  syntheticPerReal: number;
  /** Model id; unset: the gateway's BASE_MODEL, or INSTRUCT_MODEL for a mode that runs on an instruction-edit model. */
  model?: string;
  sampling: SamplingSpec;
}

/**
 * The generation component: the mode with its own parameters (declared in shared/generation-modes) and the
 * common fields, discriminated by `mode`.
 */
export type GenerationSpec = GenerationCommon & ModeParameters;

/** A generation component as a request sends it on top of a preset: any field of any mode (checked after). */
export type GenerationOverride = Partial<GenerationCommon & { mode: GenerationMode } & AnyModeParameters>;

/** The utilization component (how real and synthetic images train the classifier). */
export interface UtilizationSpec {
  mode: UtilizationMode;
  /** p in [0, 1] for LRR and GRR. */
  replaceProbability?: number;
  /** Soft labels w = strength^γ for inter-class samples (Diff-Mix: 0.5). */
  softLabelGamma?: number;
  traditionalAugmentation: TraditionalAugmentation;
  /** Beta(α, α) of MixUp/CutMix. */
  mixAlpha?: number;
  /** Share of batches MixUp/CutMix applies to. */
  mixProbability?: number;
}

/** A method: a preset of the three components. `generation` is null for the baselines. */
export interface MethodPreset {
  id: string;
  name: string;
  kind: "diffda" | "baseline";
  /** Where the method was published. */
  reference: string;
  description: string;
  finetuning: FinetuningSpec;
  generation: GenerationSpec | null;
  utilization: UtilizationSpec;
  /** Where the defaults come from. */
  source: string;
}

/** Fine-tuning settings blocks each method takes. */
export const FINETUNE_PARAMETERS: Readonly<Record<FinetuneMethod, readonly (keyof FinetuningSpec)[]>> = {
  none: [],
  textual_inversion: ["textualInversion", "batchSize", "resolution", "templates"],
  ti_lora: ["textualInversion", "lora", "batchSize", "resolution", "templates"],
  text_encoder_lora: ["lora", "batchSize", "resolution", "templates"],
  full_unet: ["fullUnet", "batchSize", "resolution", "templates"],
};

/** Fine-tuning methods that learn one token per class. */
export const TOKEN_METHODS: ReadonlySet<FinetuneMethod> = new Set(["textual_inversion", "ti_lora"]);

// Shared recipe pieces (docs/methods.md#fine-tuning and #generation).
const SYNTHETIC_PER_REAL = 5;
const DPM_25: SamplingSpec = { scheduler: "dpm_solver_multistep", numInferenceSteps: 25, guidanceScale: 7.5 };
// No initializerToken: the finetune service starts each class from its prompt name where the model knows
// it, else from "the" (the paper's word); a request's initializerToken still wins.
const TI: TextualInversionSpec = { maxTrainSteps: 2000, learningRate: 5e-4 };
const LORA: LoraSpec = { maxTrainSteps: 500, learningRate: 3.2e-4, rank: 8, alpha: 8 };
const STANDARD_AUGMENTATION: TraditionalAugmentation = "flip_crop";

/** Scene phrases for Diff-II's first stage, for the bundled clothing model (the paper has 10 per dataset). */
const DIFF_II_SUFFIXES = [
  "on a white background.",
  "hanging on a rack.",
  "folded on a shelf.",
  "worn by a model.",
  "in a shop window.",
  "lying on a bed.",
  "on a wooden floor.",
  "in a suitcase.",
  "in the sunlight.",
  "in a studio photo.",
];

/** Every preset, baselines first. Frozen: callers copy before changing. */
export const PRESETS: readonly MethodPreset[] = deepFreeze([
  {
    id: "no-augmentation",
    name: "No augmentation",
    kind: "baseline",
    reference: "baseline",
    description:
      "Real images only, with the standard flip/crop every run uses (the paper's Base row): the reference every gain is measured against.",
    finetuning: { method: "none" },
    generation: null,
    utilization: { mode: "real_only", traditionalAugmentation: STANDARD_AUGMENTATION },
    source: "docs/methods.md#utilization: standard train augmentation always runs",
  },
  {
    id: "traditional",
    name: "Traditional augmentation (MixUp)",
    kind: "baseline",
    reference: "baseline",
    description:
      "Real images with flip/crop plus MixUp (override traditionalAugmentation with cutmix for CutMix), α = 1.0 on 50% of batches.",
    finetuning: { method: "none" },
    generation: null,
    utilization: { mode: "real_only", traditionalAugmentation: "mixup", mixAlpha: 1.0, mixProbability: 0.5 },
    source: "docs/methods.md#utilization: MixUp/CutMix, α = 1.0, 50% of batches",
  },
  {
    id: "real-guidance",
    name: "Real-Guidance",
    kind: "diffda",
    reference: "He et al., ICLR 2023",
    description: "Base model, SDEdit img2img within the class from a class-name prompt, full concatenation.",
    finetuning: { method: "none" },
    generation: {
      mode: "img2img_intra_class",
      syntheticPerReal: SYNTHETIC_PER_REAL,
      strength: 0.1,
      sampling: { ...DPM_25, promptTemplates: ["a photo of {}"] },
    },
    utilization: { mode: "fc", traditionalAugmentation: STANDARD_AUGMENTATION },
    source: "docs/methods.md#the-presets: native utilization concat; strength 0.1 (CUB 5-shot)",
  },
  {
    id: "gif",
    name: "GIF",
    kind: "diffda",
    reference: "Zhang et al., NeurIPS 2023",
    description:
      "Base model, img2img with one CLIP-guided latent perturbation inside an ε-ball, varied domain/adjective prompts, full concatenation.",
    finetuning: { method: "none" },
    generation: {
      mode: "clip_guided_perturbation",
      syntheticPerReal: SYNTHETIC_PER_REAL,
      strength: 0.9,
      epsilon: 0.8,
      stepSize: 0.1,
      rotationDegrees: 15,
      horizontalFlip: true,
      sampling: {
        ...DPM_25,
        promptTemplates: GIF_DOMAINS.flatMap((domain) =>
          GIF_ADJECTIVES.map((adjective) => `${domain} ${adjective ? `${adjective} ` : ""}{}`),
        ),
      },
    },
    utilization: { mode: "fc", traditionalAugmentation: STANDARD_AUGMENTATION },
    source:
      "docs/methods.md#generation: ε 0.8, step 0.1, rotation 15°, flip; strength 0.9 (CUB 5-shot); concat",
  },
  {
    id: "diffusemix",
    name: "DiffuseMix",
    kind: "diffda",
    reference: "Islam et al., CVPR 2024",
    description:
      "Instruction-edit model (9 style prompts), half concatenation with the original and a fractal blend, synthetic images only.",
    finetuning: { method: "none" },
    generation: {
      mode: "instruct_edit",
      syntheticPerReal: SYNTHETIC_PER_REAL,
      instructions: [...DIFFUSEMIX_PROMPTS],
      imageGuidanceScale: 1.5,
      halfConcat: true,
      blendWidth: 20,
      fractalAlpha: 0.2,
      sampling: { scheduler: "euler_ancestral", numInferenceSteps: 100, guidanceScale: 4.0 },
    },
    utilization: { mode: "fr", traditionalAugmentation: STANDARD_AUGMENTATION },
    source:
      "docs/methods.md#generation: Euler-A 100 steps, guidance 4.0, image guidance 1.5 (default), 20-px seam, α 0.2; FR",
  },
  {
    id: "da-fusion",
    name: "DA-Fusion",
    kind: "diffda",
    reference: "Trabucco et al., ICLR 2024",
    description:
      "Textual inversion per class, img2img within the class from the learned token, local random replacement.",
    finetuning: { method: "textual_inversion", textualInversion: { ...TI } },
    generation: {
      mode: "img2img_intra_class",
      syntheticPerReal: SYNTHETIC_PER_REAL,
      strength: 0.9,
      sampling: { ...DPM_25, promptTemplates: ["a photo of a {}"] },
    },
    utilization: { mode: "lrr", replaceProbability: 0.5, traditionalAugmentation: STANDARD_AUGMENTATION },
    source: "docs/methods.md#the-presets: TI 2000 steps lr 5e-4; strength 0.9, p 0.5 (CUB 5-shot); LRR",
  },
  {
    id: "diff-aug",
    name: "Diff-Aug",
    kind: "diffda",
    reference: "Wang et al., CVPR 2024",
    description: "Textual inversion + DreamBooth-LoRA, img2img within the class, global random replacement.",
    finetuning: { method: "ti_lora", textualInversion: { ...TI }, lora: { ...LORA } },
    generation: {
      mode: "img2img_intra_class",
      syntheticPerReal: SYNTHETIC_PER_REAL,
      strength: 0.9,
      sampling: { ...DPM_25, promptTemplates: ["a photo of a {}"] },
    },
    utilization: { mode: "grr", replaceProbability: 0.5, traditionalAugmentation: STANDARD_AUGMENTATION },
    source:
      "docs/methods.md#the-presets: TI+LoRA (rank 8, 500 steps, lr 3.2e-4); strength 0.9, p 0.5 (CUB 5-shot); GRR",
  },
  {
    id: "diff-mix",
    name: "Diff-Mix",
    kind: "diffda",
    reference: "Wang et al., CVPR 2024",
    description:
      "Textual inversion + DreamBooth-LoRA, img2img towards a random target class, global random replacement with soft labels s^γ.",
    finetuning: { method: "ti_lora", textualInversion: { ...TI }, lora: { ...LORA } },
    generation: {
      mode: "img2img_inter_class",
      syntheticPerReal: SYNTHETIC_PER_REAL,
      strength: 0.7,
      sampling: { ...DPM_25, promptTemplates: ["a photo of a {}"] },
    },
    utilization: {
      mode: "grr",
      replaceProbability: 0.7,
      softLabelGamma: 0.5,
      traditionalAugmentation: STANDARD_AUGMENTATION,
    },
    source: "docs/methods.md#utilization: soft labels γ 0.5; strength 0.7, p 0.7 (CUB 5-shot); GRR",
  },
  {
    id: "diff-ii",
    name: "Diff-II",
    kind: "diffda",
    reference: "Inversion Circle Interpolation, CVPR 2025",
    description:
      "Textual inversion + DreamBooth-LoRA, DDIM inversion and circle interpolation between same-class latents, two-stage prompts, local random replacement.",
    finetuning: { method: "ti_lora", textualInversion: { ...TI }, lora: { ...LORA } },
    generation: {
      mode: "ddim_inversion_interpolation",
      syntheticPerReal: SYNTHETIC_PER_REAL,
      inversionSteps: 200,
      inversionGuidanceScale: 1,
      splitRatio: 0.3,
      promptSuffixes: DIFF_II_SUFFIXES,
      sampling: {
        scheduler: "ddim",
        numInferenceSteps: 25,
        guidanceScale: 7.5,
        promptTemplates: ["a photo of a {}"],
      },
    },
    utilization: { mode: "lrr", replaceProbability: 0.5, traditionalAugmentation: STANDARD_AUGMENTATION },
    source:
      "docs/methods.md#generation: 200-step inversion CFG 1, DDIM 25 steps CFG 7.5, split 0.3; p 0.5 (CUB 5-shot); LRR",
  },
  {
    id: "flip-crop-guidance",
    name: "Flip-crop guidance",
    kind: "diffda",
    reference: "diffda",
    description:
      "Base model, SDEdit img2img within the class from a randomly flipped and cropped source (the classic geometric augmentation, repainted), full concatenation.",
    finetuning: { method: "none" },
    generation: {
      mode: "img2img_flip_crop",
      syntheticPerReal: SYNTHETIC_PER_REAL,
      strength: 0.5,
      minCropScale: 0.75,
      horizontalFlip: true,
      sampling: { ...DPM_25, promptTemplates: ["a photo of a {}"] },
    },
    utilization: { mode: "fc", traditionalAugmentation: STANDARD_AUGMENTATION },
    source: "docs/adding-a-method.md: flip, 75–100 % square crop, SDEdit strength 0.5; concat",
  },
]);

/** Preset ids, in listing order. */
export const PRESET_IDS: readonly string[] = PRESETS.map((preset) => preset.id);

/** Ids of the baselines that run beside every method unless a job says otherwise. */
export const BASELINE_IDS: readonly string[] = PRESETS.filter((p) => p.kind === "baseline").map((p) => p.id);

/** Ids of the DiffDA methods. */
export const DIFFDA_IDS: readonly string[] = PRESETS.filter((p) => p.kind === "diffda").map((p) => p.id);

/** A preset by id (a deep copy the caller may change), or undefined. */
export function presetById(id: string): MethodPreset | undefined {
  const preset = PRESETS.find((p) => p.id === id);
  return preset === undefined ? undefined : (structuredClone(preset) as MethodPreset);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
