import { ARCHITECTURES, stemFor } from "../../../shared/classifier/architectures.js";
import { backboneMismatch, SCRATCH_BACKBONE } from "../../../shared/classifier/backbones.js";
import type { AugmentSpec } from "../../../shared/classifier/index.js";
import { epochImages, resolveRecipe } from "../../../shared/classifier/recipe.js";
import type { UtilizationStrategy } from "../../../shared/data/index.js";
import { DEFAULT_AUGMENT } from "../../../shared/data/index.js";
import {
  Optimizer,
  TraditionalAugmentation,
  type TrainSpec,
  UtilizationMode,
} from "../../../shared/gen/diffda/classifier/v1/classifier_pb.js";
import { type ResNetConfig, resnetConfig } from "../../../shared/ml/models/resnet.js";
import {
  countField,
  enumField,
  invalidField,
  optionalInt,
  optionalNumber,
  required,
  seedField,
  stringField,
} from "../../../shared/service/wire/index.js";
import type { ClassifierLimits } from "./config.js";

/** Every hyperparameter of a run, defaults filled in (echoed in the result). */
export interface ResolvedHyperparameters {
  readonly epochs: number;
  readonly batchSize: number;
  readonly learningRate: number;
  readonly seed: number;
  readonly optimizer: "sgd" | "adamw";
  readonly weightDecay: number;
  readonly labelSmoothing: number;
  readonly mixAlpha: number;
  readonly mixProbability: number;
  /** The run's step budget, when the request set one. */
  readonly maxSteps?: number;
}

/**
 * Hyperparameters as the request set them, defaults filled in, except batch size and epochs: unset, they
 * are sized to the sets by {@link resolveHyperparameters} once the image counts are known.
 */
export type PlannedHyperparameters = Omit<ResolvedHyperparameters, "epochs" | "batchSize"> & {
  readonly epochs?: number;
  readonly batchSize?: number;
};

/** A validated TrainSpec. */
export interface TrainPlan {
  readonly jobId: string;
  readonly architecture: string;
  /** "scratch" or a pretrained backbone of shared/classifier/backbones.ts. */
  readonly backbone: string;
  readonly classNames: readonly string[];
  readonly imageSize?: number;
  readonly mode: UtilizationMode;
  readonly utilization: UtilizationStrategy;
  readonly softLabelGamma?: number;
  readonly syntheticPerReal?: number;
  readonly augmentation: TraditionalAugmentation;
  readonly augment: AugmentSpec;
  readonly hyperparameters: PlannedHyperparameters;
}

/**
 * Defaults of TrainHyperparameters (SGD with momentum 0.9, cosine schedule, as the contract says); batch
 * size and epochs come from the sized recipe (shared/classifier/recipe.ts).
 */
export const TRAIN_DEFAULTS = Object.freeze({
  learningRate: { sgd: 0.05, adamw: 2e-3 },
  weightDecay: 5e-4,
  labelSmoothing: 0,
  mixAlpha: 1,
  mixProbability: 0.5,
  replaceProbability: 0.5,
});

function strategy(mode: UtilizationMode, p: number): UtilizationStrategy {
  switch (mode) {
    case UtilizationMode.REAL_ONLY:
      return { kind: "real" };
    case UtilizationMode.FULL_CONCATENATION:
      return { kind: "FC" };
    case UtilizationMode.FULL_REPLACEMENT:
      return { kind: "FR" };
    case UtilizationMode.LOCAL_RANDOM_REPLACEMENT:
      return { kind: "LRR", p };
    default:
      return { kind: "GRR", p };
  }
}

function augmentOf(kind: TraditionalAugmentation, alpha: number, probability: number): AugmentSpec {
  switch (kind) {
    case TraditionalAugmentation.NONE:
      return {};
    case TraditionalAugmentation.FLIP_CROP:
      return { augment: DEFAULT_AUGMENT };
    case TraditionalAugmentation.MIXUP:
      return { augment: DEFAULT_AUGMENT, mix: { mode: "mixup", alpha, probability } };
    default:
      return { augment: DEFAULT_AUGMENT, mix: { mode: "cutmix", alpha, probability } };
  }
}

/**
 * Validates a TrainSpec (every field, naming it on failure) and resolves the defaults. Field names are
 * relative to the request: "spec.hyperparameters.epochs".
 */
export function validateTrainSpec(spec: TrainSpec | undefined, limits: ClassifierLimits): TrainPlan {
  const s = required(spec, "spec");
  const jobId = stringField(s.jobId, "spec.job_id", { maxLength: 256 });
  const architecture = stringField(s.architecture, "spec.architecture", { minLength: 1, maxLength: 64 });
  if (!ARCHITECTURES[architecture]) {
    throw invalidField(
      "spec.architecture",
      `unknown network "${architecture}" (${Object.keys(ARCHITECTURES).join(", ")})`,
    );
  }
  const backbone =
    s.backbone === "" ? SCRATCH_BACKBONE : stringField(s.backbone, "spec.backbone", { maxLength: 64 });
  const classNames = countField(s.classes, "spec.classes", { min: 1, max: 10_000 }).map((c, i) =>
    stringField(c.name, `spec.classes[${i}].name`, { minLength: 1, maxLength: 200 }),
  );
  const imageSize = optionalInt(
    s.imageSize,
    "spec.image_size",
    { min: 8, max: limits.maxImageSize },
    undefined,
  );
  const mismatch = backboneMismatch(backbone, architecture, imageSize);
  if (mismatch !== undefined) throw invalidField("spec.backbone", mismatch);
  const u = required(s.utilization, "spec.utilization");
  const mode = enumField(u.mode, "spec.utilization.mode", UtilizationMode);
  const p = optionalNumber(
    u.replaceProbability,
    "spec.utilization.replace_probability",
    { min: 0, max: 1 },
    TRAIN_DEFAULTS.replaceProbability,
  );
  const softLabelGamma = optionalNumber(
    u.softLabelGamma,
    "spec.utilization.soft_label_gamma",
    { min: 0, max: 100, exclusiveMin: true },
    undefined,
  );
  const syntheticPerReal = optionalInt(
    u.syntheticPerReal,
    "spec.utilization.synthetic_per_real",
    { min: 1, max: 1_000_000 },
    undefined,
  );
  const augmentation = enumField(
    s.traditionalAugmentation,
    "spec.traditional_augmentation",
    TraditionalAugmentation,
  );
  const h = s.hyperparameters;
  const at = (name: string) => `spec.hyperparameters.${name}`;
  const optimizerEnum = enumField(h?.optimizer ?? Optimizer.UNSPECIFIED, at("optimizer"), Optimizer, {
    allowUnspecified: true,
  });
  const optimizer = optimizerEnum === Optimizer.ADAMW ? "adamw" : "sgd";
  const hyperparameters: PlannedHyperparameters = {
    epochs: optionalInt(h?.epochs, at("epochs"), { min: 1, max: limits.maxEpochs }, undefined),
    batchSize: optionalInt(h?.batchSize, at("batch_size"), { min: 1, max: 4096 }, undefined),
    maxSteps: optionalInt(h?.maxSteps, at("max_steps"), { min: 1, max: 100_000_000 }, undefined),
    learningRate: optionalNumber(
      h?.learningRate,
      at("learning_rate"),
      { min: 0, max: 10, exclusiveMin: true },
      TRAIN_DEFAULTS.learningRate[optimizer],
    ),
    seed: seedField(h?.seed ?? 0n, at("seed")),
    optimizer,
    weightDecay: optionalNumber(
      h?.weightDecay,
      at("weight_decay"),
      { min: 0, max: 1 },
      TRAIN_DEFAULTS.weightDecay,
    ),
    labelSmoothing: optionalNumber(
      h?.labelSmoothing,
      at("label_smoothing"),
      { min: 0, max: 0.99 },
      TRAIN_DEFAULTS.labelSmoothing,
    ),
    mixAlpha: optionalNumber(
      h?.mixAlpha,
      at("mix_alpha"),
      { min: 0, max: 100, exclusiveMin: true },
      TRAIN_DEFAULTS.mixAlpha,
    ),
    mixProbability: optionalNumber(
      h?.mixProbability,
      at("mix_probability"),
      { min: 0, max: 1 },
      TRAIN_DEFAULTS.mixProbability,
    ),
  };
  return {
    jobId,
    architecture,
    backbone,
    classNames,
    imageSize,
    mode,
    utilization: strategy(mode, p),
    softLabelGamma,
    syntheticPerReal,
    augmentation,
    augment: augmentOf(augmentation, hyperparameters.mixAlpha, hyperparameters.mixProbability),
    hyperparameters,
  };
}

/** Checks the set sizes a plan needs: real images always; synthetic ones as the utilization mode requires. */
export function checkCounts(
  plan: TrainPlan,
  realCount: number,
  syntheticCount: number,
  limits: ClassifierLimits,
): void {
  if (realCount < 1) throw invalidField("real_images", "must hold at least one image");
  if (realCount > limits.maxImages)
    throw invalidField("real_images", `must hold at most ${limits.maxImages} images`);
  if (syntheticCount > limits.maxImages) {
    throw invalidField("synthetic_images", `must hold at most ${limits.maxImages} images`);
  }
  if (plan.mode === UtilizationMode.REAL_ONLY && syntheticCount > 0) {
    throw invalidField("synthetic_images", "must be empty with UTILIZATION_MODE_REAL_ONLY");
  }
  const needsSynthetic = [
    UtilizationMode.FULL_REPLACEMENT,
    UtilizationMode.LOCAL_RANDOM_REPLACEMENT,
    UtilizationMode.GLOBAL_RANDOM_REPLACEMENT,
  ].includes(plan.mode);
  if (needsSynthetic && syntheticCount === 0) {
    throw invalidField("synthetic_images", `must not be empty with ${UtilizationMode[plan.mode]}`);
  }
}

/**
 * Every hyperparameter of a run: an unset batch size or epoch count sized by the recipe to the images an
 * epoch trains on (`syntheticCount` after `synthetic_per_real`); explicit values stay as sent.
 */
export function resolveHyperparameters(
  plan: TrainPlan,
  realCount: number,
  syntheticCount: number,
  limits: ClassifierLimits,
): ResolvedHyperparameters {
  const { batchSize, epochs } = resolveRecipe({
    images: epochImages(plan.utilization.kind, realCount, syntheticCount),
    batchSize: plan.hyperparameters.batchSize,
    epochs: plan.hyperparameters.epochs,
    maxSteps: plan.hyperparameters.maxSteps,
    defaultEpochs: limits.defaultEpochs,
    maxEpochs: limits.maxEpochs,
  });
  return { ...plan.hyperparameters, batchSize, epochs };
}

/** The network of a plan for `channels` × `size` inputs. */
export function networkOf(plan: TrainPlan, channels: number, size: number): ResNetConfig {
  return resnetConfig({
    inChannels: channels,
    numClasses: plan.classNames.length,
    imageSize: size,
    stem: stemFor(size),
    ...ARCHITECTURES[plan.architecture],
  });
}
