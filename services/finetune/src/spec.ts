import type { TextualInversion } from "../../../shared/diffusion/index.js";
import { parseTextualInversion } from "../../../shared/diffusion/index.js";
import {
  datasetBudget,
  type FineTuneMethod,
  LORA_DEFAULTS,
  METHOD_DEFAULTS,
  type StageSettings,
} from "../../../shared/finetune/index.js";
import { AdapterKind } from "../../../shared/gen/diffda/common/v1/model_pb.js";
import { FinetuneMethod, type FinetuneSpec } from "../../../shared/gen/diffda/finetune/v1/finetune_pb.js";
import { decodeSafetensors } from "../../../shared/ml/safetensors/index.js";
import type { ModelEntry, ModelRegistry } from "../../../shared/service/index.js";
import {
  countField,
  enumField,
  invalidField,
  optionalInt,
  optionalNumber,
  required,
  seedField,
  stringField,
  verifyArtifact,
} from "../../../shared/service/wire/index.js";
import type { FinetuneLimits } from "./config.js";

/** A validated FinetuneSpec, ready for shared/finetune. */
export interface FinetunePlan {
  readonly jobId: string;
  readonly model: ModelEntry;
  readonly method: FinetuneMethod;
  /** shared/finetune's method; undefined for FINETUNE_METHOD_NONE. */
  readonly engineMethod?: FineTuneMethod;
  readonly classNames: readonly string[];
  /** Class tokens (TI and TI+LoRA), in class order. */
  readonly tokens?: readonly string[];
  /** The caller's TI initializer word; undefined: each class's own words where known, else "the". */
  readonly initializerWord?: string;
  /** TI+LoRA starting from a textual-inversion adapter: its concepts in class order. */
  readonly concepts?: readonly TextualInversion[];
  readonly templates?: readonly string[];
  readonly resolution?: number;
  readonly seed: number;
  readonly batchSize: number;
  /** Settings of the method's (last) stage. */
  readonly settings: StageSettings;
  /** TI+LoRA without given concepts: the TI stage's settings. */
  readonly tiSettings?: StageSettings;
  readonly rank: number;
  readonly alpha: number;
  /**
   * FULL_UNET: the settings the spec left unset (steps, learning rate), to be sized to the images by
   * {@link withDatasetBudget} once they are known (docs/methods.md#dataset-sized-recipes).
   */
  readonly sizeToDataset?: { readonly steps: boolean; readonly learningRate: boolean };
}

const TOKEN = /^\S{1,100}$/;

const ENGINE_METHODS: Readonly<Record<number, FineTuneMethod | undefined>> = {
  [FinetuneMethod.NONE]: undefined,
  [FinetuneMethod.TEXTUAL_INVERSION]: "textual-inversion",
  [FinetuneMethod.TI_LORA]: "ti-lora",
  [FinetuneMethod.TEXT_ENCODER_LORA]: "text-encoder-lora",
  [FinetuneMethod.FULL_UNET]: "full-unet",
};

function stage(
  base: StageSettings,
  over: { maxTrainSteps?: number; learningRate?: number } | undefined,
  field: string,
  batchSize: number,
  limits: FinetuneLimits,
): StageSettings {
  return {
    ...base,
    batchSize,
    steps: optionalInt(
      over?.maxTrainSteps,
      `${field}.max_train_steps`,
      { min: 1, max: limits.maxSteps },
      base.steps,
    ),
    learningRate: optionalNumber(
      over?.learningRate,
      `${field}.learning_rate`,
      { min: 0, max: 10, exclusiveMin: true },
      base.learningRate,
    ),
  };
}

/** The concepts of a textual-inversion init adapter, one per class token, in class order. */
function initConcepts(spec: FinetuneSpec, tokens: readonly string[]): TextualInversion[] | undefined {
  countField(spec.initAdapters, "spec.init_adapters", { max: 1 });
  const adapter = spec.initAdapters[0];
  if (!adapter) return undefined;
  const field = "spec.init_adapters[0]";
  const kind = enumField(adapter.kind, `${field}.kind`, AdapterKind);
  if (kind !== AdapterKind.TEXTUAL_INVERSION) {
    throw invalidField(`${field}.kind`, "only a textual-inversion adapter can start a TI_LORA run");
  }
  const bytes = verifyArtifact(adapter.file, `${field}.file`);
  let parsed: TextualInversion[];
  try {
    parsed = parseTextualInversion(
      decodeSafetensors(bytes).tensors,
      adapter.tokens.length === 1 ? adapter.tokens[0] : undefined,
    );
  } catch (error) {
    throw invalidField(`${field}.file.content`, (error as Error).message);
  }
  return tokens.map((token, k) => {
    const concept = parsed.find((c) => c.token === token);
    if (!concept) throw invalidField(`spec.classes[${k}].token`, `the init adapter defines no "${token}"`);
    return concept;
  });
}

/**
 * Validates every field of a FinetuneSpec (naming it on failure) and resolves the defaults: the base model
 * by id, the method, tokens (required for TI and TI+LoRA unless a TI init adapter gives them), and the
 * settings of each stage over shared/finetune's METHOD_DEFAULTS.
 */
export function validateFinetuneSpec(
  spec: FinetuneSpec | undefined,
  registry: ModelRegistry,
  limits: FinetuneLimits,
): FinetunePlan {
  const s = required(spec, "spec");
  const jobId = stringField(s.jobId, "spec.job_id", { maxLength: 256 });
  const model = registry.resolve(s.baseModel?.name ?? "", "spec.base_model.name");
  const method = enumField(s.method, "spec.method", FinetuneMethod);
  const engineMethod = ENGINE_METHODS[method];
  const classes = countField(s.classes, "spec.classes", { min: 1, max: 10_000 });
  const classNames = classes.map((c, i) =>
    stringField(c.name, `spec.classes[${i}].name`, { minLength: 1, maxLength: 200 }),
  );
  const h = s.hyperparameters;
  const at = (name: string) => `spec.hyperparameters.${name}`;
  const batchSize = optionalInt(
    h?.batchSize,
    at("batch_size"),
    { min: 1, max: 1024 },
    METHOD_DEFAULTS.lora.batchSize,
  );
  const seed = seedField(h?.seed ?? 0n, at("seed"));
  const templates = countField(h?.templates ?? [], at("templates"), { max: 256 }).map((t, i) => {
    stringField(t, `${at("templates")}[${i}]`, { minLength: 1, maxLength: 1000 });
    if (!t.includes("{}"))
      throw invalidField(`${at("templates")}[${i}]`, 'must contain "{}" for the class token');
    return t;
  });
  const resolution = optionalInt(
    h?.resolution,
    at("resolution"),
    { min: 8, max: limits.maxResolution },
    undefined,
  );
  const ti = h?.textualInversion;
  const initializerWord = ti?.initializerToken
    ? stringField(ti.initializerToken, at("textual_inversion.initializer_token"), { maxLength: 100 })
    : undefined;
  const needsTokens = method === FinetuneMethod.TEXTUAL_INVERSION || method === FinetuneMethod.TI_LORA;
  let tokens: string[] | undefined;
  if (needsTokens) {
    tokens = classes.map((c, i) =>
      stringField(c.token, `spec.classes[${i}].token`, {
        pattern: TOKEN,
        patternName: "a token without whitespace (TI needs one per class)",
      }),
    );
    const seen = new Set<string>();
    tokens.forEach((t, i) => {
      if (seen.has(t)) throw invalidField(`spec.classes[${i}].token`, `"${t}" is used by two classes`);
      seen.add(t);
    });
  }
  const concepts = method === FinetuneMethod.TI_LORA && tokens ? initConcepts(s, tokens) : undefined;
  if (method !== FinetuneMethod.TI_LORA) countField(s.initAdapters, "spec.init_adapters", { max: 0 });
  const lora = h?.lora;
  const rank = optionalInt(lora?.rank, at("lora.rank"), { min: 1, max: 1024 }, LORA_DEFAULTS.rank);
  const alpha = optionalNumber(lora?.alpha, at("lora.alpha"), { min: 0, max: 1e4, exclusiveMin: true }, rank);
  let settings: StageSettings;
  let tiSettings: StageSettings | undefined;
  let sizeToDataset: FinetunePlan["sizeToDataset"];
  const tiStage = () =>
    stage(METHOD_DEFAULTS["textual-inversion"], ti, at("textual_inversion"), batchSize, limits);
  switch (method) {
    case FinetuneMethod.TEXTUAL_INVERSION:
      settings = tiStage();
      break;
    case FinetuneMethod.TI_LORA:
      settings = stage(METHOD_DEFAULTS.lora, lora, at("lora"), batchSize, limits);
      tiSettings = concepts ? undefined : tiStage();
      break;
    case FinetuneMethod.TEXT_ENCODER_LORA:
      settings = stage(METHOD_DEFAULTS.lora, lora, at("lora"), batchSize, limits);
      break;
    case FinetuneMethod.FULL_UNET:
      settings = stage(METHOD_DEFAULTS["full-unet"], h?.fullUnet, at("full_unet"), batchSize, limits);
      sizeToDataset = {
        steps: h?.fullUnet?.maxTrainSteps === undefined,
        learningRate: h?.fullUnet?.learningRate === undefined,
      };
      break;
    default:
      settings = { ...METHOD_DEFAULTS.lora, batchSize, steps: 0 };
  }
  return {
    jobId,
    model,
    method,
    engineMethod,
    classNames,
    tokens,
    initializerWord,
    concepts,
    templates: templates.length > 0 ? templates : undefined,
    resolution,
    seed,
    batchSize,
    settings,
    tiSettings,
    rank,
    alpha,
    sizeToDataset,
  };
}

/**
 * The plan with the dataset-sized full-UNet budget ({@link datasetBudget}) in the settings its spec left
 * unset: steps from the class count and the images per class (the mean, rounded up) at the plan's batch
 * size, within the service's step limit, and the recipe's learning rate, warmup and clipping. Plans without
 * `sizeToDataset` come back unchanged.
 */
export function withDatasetBudget(
  plan: FinetunePlan,
  imageCount: number,
  limits: FinetuneLimits,
): FinetunePlan {
  const sized = plan.sizeToDataset;
  if (!sized || (!sized.steps && !sized.learningRate)) return plan;
  const classes = plan.classNames.length;
  const imagesPerClass = Math.max(1, Math.ceil(imageCount / classes));
  const budget = datasetBudget("full-unet", { classes, imagesPerClass }, plan.batchSize);
  return {
    ...plan,
    settings: {
      ...plan.settings,
      warmupSteps: budget.warmupSteps,
      clipNorm: budget.clipNorm,
      flipProbability: budget.flipProbability,
      lrSchedule: budget.lrSchedule,
      steps: sized.steps ? Math.min(limits.maxSteps, budget.steps) : plan.settings.steps,
      learningRate: sized.learningRate ? budget.learningRate : plan.settings.learningRate,
    },
  };
}
