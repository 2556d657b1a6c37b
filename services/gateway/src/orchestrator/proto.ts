/**
 * From the gateway's resolved specs (presets.ts vocabulary) to the compute services' protobuf messages,
 * and the classifier's echoed hyperparameters back. One place knows both vocabularies, so a new option is
 * added here and in presets.ts, nowhere else.
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { StepBudget } from "../../../../shared/classifier/recipe.js";
import {
  Optimizer,
  TraditionalAugmentation as TraditionalAugmentationPb,
  type TrainHyperparameters,
  type TrainHyperparametersSchema,
  UtilizationMode,
  type UtilizationSchema,
} from "../../../../shared/gen/diffda/classifier/v1/classifier_pb.js";
import type { LabelledImageSchema } from "../../../../shared/gen/diffda/common/v1/dataset_pb.js";
import { ImageFormat } from "../../../../shared/gen/diffda/common/v1/image_pb.js";
import {
  type FinetuneHyperparametersSchema,
  FinetuneMethod as FinetuneMethodPb,
} from "../../../../shared/gen/diffda/finetune/v1/finetune_pb.js";
import type { GenerateShardRequestSchema } from "../../../../shared/gen/diffda/generation/v1/generation_pb.js";
import { modeSpec } from "../../../../shared/generation-modes/specs.js";
import { sha256Hex } from "../artifact-store.js";
import type { ClassifierSpec } from "../job-spec.js";
import type {
  FinetuneMethod,
  FinetuningSpec,
  GenerationSpec,
  TraditionalAugmentation,
  UtilizationSpec,
} from "../presets.js";

/** Fine-tuning methods on the wire. */
export const FINETUNE_METHOD_PB: Readonly<Record<FinetuneMethod, FinetuneMethodPb>> = {
  none: FinetuneMethodPb.NONE,
  textual_inversion: FinetuneMethodPb.TEXTUAL_INVERSION,
  ti_lora: FinetuneMethodPb.TI_LORA,
  text_encoder_lora: FinetuneMethodPb.TEXT_ENCODER_LORA,
  full_unet: FinetuneMethodPb.FULL_UNET,
};

/** Utilization modes on the wire. */
const UTILIZATION_MODE_PB: Readonly<Record<UtilizationSpec["mode"], UtilizationMode>> = {
  real_only: UtilizationMode.REAL_ONLY,
  fc: UtilizationMode.FULL_CONCATENATION,
  fr: UtilizationMode.FULL_REPLACEMENT,
  lrr: UtilizationMode.LOCAL_RANDOM_REPLACEMENT,
  grr: UtilizationMode.GLOBAL_RANDOM_REPLACEMENT,
};

/** Traditional augmentations on the wire. */
const TRADITIONAL_PB: Readonly<Record<TraditionalAugmentation, TraditionalAugmentationPb>> = {
  none: TraditionalAugmentationPb.NONE,
  flip_crop: TraditionalAugmentationPb.FLIP_CROP,
  mixup: TraditionalAugmentationPb.MIXUP,
  cutmix: TraditionalAugmentationPb.CUTMIX,
};

/** A PNG with its label and source index as a LabelledImage. */
export function labelledPng(
  png: Uint8Array,
  label: number,
  sourceIndex: number,
  extra: { interClass?: { sourceLabel: number; strength: number } } = {},
): MessageInitShape<typeof LabelledImageSchema> {
  return {
    image: { format: ImageFormat.PNG, data: png, sha256: sha256Hex(png) },
    label,
    sourceIndex,
    ...extra,
  };
}

/** The fine-tuning hyperparameters of a spec. */
export function finetuneHyperparameters(
  spec: FinetuningSpec,
  seed: number,
): MessageInitShape<typeof FinetuneHyperparametersSchema> {
  return {
    seed: BigInt(seed),
    ...(spec.batchSize !== undefined ? { batchSize: spec.batchSize } : {}),
    ...(spec.resolution !== undefined ? { resolution: spec.resolution } : {}),
    templates: spec.templates ?? [],
    ...(spec.textualInversion ? { textualInversion: { ...spec.textualInversion } } : {}),
    ...(spec.lora ? { lora: { ...spec.lora } } : {}),
    ...(spec.fullUnet ? { fullUnet: { ...spec.fullUnet } } : {}),
  };
}

/** The `sampling` and `method` fields of a GenerateShardRequest. */
export function generationFields(
  spec: GenerationSpec,
): Pick<MessageInitShape<typeof GenerateShardRequestSchema>, "sampling" | "method"> {
  const s = spec.sampling;
  const sampling = {
    ...(s.numInferenceSteps !== undefined ? { numInferenceSteps: s.numInferenceSteps } : {}),
    scheduler: s.scheduler ?? "",
    ...(s.guidanceScale !== undefined ? { guidanceScale: s.guidanceScale } : {}),
    promptTemplates: s.promptTemplates ?? [],
    negativePrompt: s.negativePrompt ?? "",
  };
  // The mode's declared parameters that the spec sets, by the same names, in the mode's oneof message.
  const mode = modeSpec(spec.mode);
  const given = spec as unknown as Record<string, unknown>;
  const value = Object.fromEntries(
    Object.keys(mode.parameters).flatMap((name) => (given[name] === undefined ? [] : [[name, given[name]]])),
  );
  return {
    sampling,
    method: { case: mode.protoCase, value } as MessageInitShape<typeof GenerateShardRequestSchema>["method"],
  };
}

/** The TrainSpec of a method and seed (classes and job id filled by the caller). */
export function trainSpec(
  utilization: UtilizationSpec,
  classifier: ClassifierSpec,
  seed: number,
  defaults: { architecture: string },
  budget?: StepBudget,
): {
  architecture: string;
  backbone?: string;
  imageSize?: number;
  utilization: MessageInitShape<typeof UtilizationSchema>;
  traditionalAugmentation: TraditionalAugmentationPb;
  hyperparameters: MessageInitShape<typeof TrainHyperparametersSchema>;
} {
  const defined = <T extends object>(value: T): T =>
    Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
  return {
    architecture: classifier.architecture ?? defaults.architecture,
    ...(classifier.backbone !== undefined ? { backbone: classifier.backbone } : {}),
    ...(classifier.imageSize !== undefined ? { imageSize: classifier.imageSize } : {}),
    utilization: defined({
      mode: UTILIZATION_MODE_PB[utilization.mode],
      replaceProbability: utilization.replaceProbability,
      softLabelGamma: utilization.softLabelGamma,
    }),
    traditionalAugmentation: TRADITIONAL_PB[utilization.traditionalAugmentation],
    hyperparameters: defined({
      seed: BigInt(seed),
      // Under a step budget every run takes the same steps at the same batch size; its epochs follow.
      epochs: budget === undefined ? classifier.epochs : undefined,
      batchSize: budget?.batchSize ?? classifier.batchSize,
      maxSteps: budget?.maxSteps,
      learningRate: classifier.learningRate,
      optimizer:
        classifier.optimizer === "adamw"
          ? Optimizer.ADAMW
          : classifier.optimizer === "sgd"
            ? Optimizer.SGD
            : Optimizer.UNSPECIFIED,
      weightDecay: classifier.weightDecay,
      labelSmoothing: classifier.labelSmoothing,
      mixAlpha: utilization.mixAlpha,
      mixProbability: utilization.mixProbability,
    }),
  };
}

/** The hyperparameters a run trained with, as the classifier echoed them (null: not echoed). */
export interface TrainedHyperparameters {
  epochs: number | null;
  batchSize: number | null;
  learningRate: number | null;
  optimizer: "sgd" | "adamw" | null;
  weightDecay: number | null;
  labelSmoothing: number | null;
  mixAlpha: number | null;
  mixProbability: number | null;
  seed: number;
}

/** TrainResult.hyperparameters in the job's `classifier` vocabulary; null when the result holds none. */
export function trainedHyperparameters(h: TrainHyperparameters | undefined): TrainedHyperparameters | null {
  if (h === undefined) return null;
  return {
    epochs: h.epochs ?? null,
    batchSize: h.batchSize ?? null,
    learningRate: h.learningRate ?? null,
    optimizer: h.optimizer === Optimizer.ADAMW ? "adamw" : h.optimizer === Optimizer.SGD ? "sgd" : null,
    weightDecay: h.weightDecay ?? null,
    labelSmoothing: h.labelSmoothing ?? null,
    mixAlpha: h.mixAlpha ?? null,
    mixProbability: h.mixProbability ?? null,
    seed: Number(h.seed),
  };
}

/** A placeholder token for a class name: `<ankle_boot>` (unique per job: a suffix on collisions). */
export function classTokens(classes: readonly string[]): string[] {
  const seen = new Set<string>();
  return classes.map((name) => {
    const stem =
      name
        .toLowerCase()
        .replace(/[^a-z0-9]+/g, "_")
        .replace(/^_|_$/g, "") || "class";
    let token = `<${stem}>`;
    for (let n = 2; seen.has(token); n++) token = `<${stem}_${n}>`;
    seen.add(token);
    return token;
  });
}
