/**
 * Schemas of the three UniDiffDA components, built from the option lists in presets.ts so that the API,
 * the presets and the validation can never disagree on a name. `full` variants describe a resolved
 * component (what presets and stored specs hold); override variants (every field optional) are what a
 * job request may send on top of a preset.
 */

import { restSchema } from "../../../../shared/generation-modes/parameters.js";
import { MODE_SPECS } from "../../../../shared/generation-modes/specs.js";
import {
  DIFFDA_IDS,
  FINETUNE_METHODS,
  GENERATION_MODES,
  PRESET_IDS,
  SCHEDULERS,
  TRADITIONAL_AUGMENTATIONS,
  UTILIZATION_MODES,
} from "../presets.js";
import { AUTO_PRESET, DEFAULT_SEARCH, MAX_CANDIDATES } from "../search/search-spec.js";
import { type JsonSchema, uuidSchema } from "./common.js";
import { filteringRequestSchema, filteringSchema } from "./filtering.js";

const positiveInt = (max: number, description?: string) => ({
  type: "integer",
  minimum: 1,
  maximum: max,
  ...(description ? { description } : {}),
});
const positiveNumber = (max: number, description?: string) => ({
  type: "number",
  exclusiveMinimum: 0,
  maximum: max,
  ...(description ? { description } : {}),
});
const unit = (description: string) => ({ type: "number", minimum: 0, maximum: 1, description });
const template = (maxItems: number, description: string) => ({
  type: "array",
  minItems: 1,
  maxItems,
  items: { type: "string", minLength: 2, maxLength: 200, pattern: "\\{\\}" },
  description,
});

function object(properties: Record<string, JsonSchema>, required: string[] = []): JsonSchema {
  return {
    type: "object",
    properties,
    ...(required.length ? { required } : {}),
    additionalProperties: false,
  };
}

const textualInversion = object({
  maxTrainSteps: positiveInt(100_000, "optimizer steps (paper: 2000)"),
  learningRate: positiveNumber(1, "AdamW learning rate (paper: 5e-4)"),
  initializerToken: {
    type: "string",
    minLength: 1,
    maxLength: 64,
    description:
      "word whose embedding seeds every class's new token (default: each class's prompt name where the model's tokenizer knows all its words, else \"the\")",
  },
});
const lora = object({
  maxTrainSteps: positiveInt(100_000, "optimizer steps (paper: 500 few-shot, 1000 otherwise)"),
  learningRate: positiveNumber(1, "AdamW learning rate (paper: 3.2e-4)"),
  rank: positiveInt(256, "rank of the update (paper: 8)"),
  alpha: positiveNumber(1024, "alpha scaling, update × alpha/rank (paper: 8)"),
});
const fullUnet = object({
  maxTrainSteps: positiveInt(100_000, "optimizer steps"),
  learningRate: positiveNumber(1, "AdamW learning rate"),
});

const finetuningProperties = {
  method: { type: "string", enum: [...FINETUNE_METHODS], description: "what fine-tuning trains" },
  textualInversion,
  lora,
  fullUnet,
  batchSize: positiveInt(1024, "images per optimizer step"),
  resolution: positiveInt(4096, "square training resolution in pixels"),
  templates: template(64, "prompt templates with one {} for the class token or name"),
};

const samplingProperties = {
  scheduler: { type: "string", enum: [...SCHEDULERS] },
  numInferenceSteps: positiveInt(1000, "denoising steps of a full schedule"),
  guidanceScale: { type: "number", minimum: 0, maximum: 50, description: "classifier-free guidance scale" },
  promptTemplates: template(256, "prompt templates with one {} for the class phrase; one drawn per sample"),
  negativePrompt: { type: "string", maxLength: 500 },
};
const sampling = object(samplingProperties);

/** The REST schema of every parameter of every mode (a parameter several modes share is declared once). */
function modeParameterProperties(): Record<string, JsonSchema> {
  const properties: Record<string, JsonSchema> = {};
  for (const mode of MODE_SPECS)
    for (const [name, parameter] of Object.entries(mode.parameters))
      properties[name] ??= restSchema(parameter);
  return properties;
}

const generationProperties = {
  mode: { type: "string", enum: [...GENERATION_MODES], description: "how synthetic images are made" },
  syntheticPerReal: positiveInt(100, "synthetic images per real image (paper: 5)"),
  model: {
    type: "string",
    minLength: 1,
    maxLength: 128,
    pattern: "^[A-Za-z0-9._-]+$",
    description: "model id",
  },
  sampling,
  // Every mode's parameters, as their declarations state them (shared/generation-modes).
  ...modeParameterProperties(),
};

const utilizationProperties = {
  mode: { type: "string", enum: [...UTILIZATION_MODES], description: "real_only, FC, FR, LRR or GRR" },
  replaceProbability: unit("LRR/GRR replacement probability p"),
  softLabelGamma: positiveNumber(10, "soft labels w = strength^γ for inter-class samples (Diff-Mix: 0.5)"),
  traditionalAugmentation: { type: "string", enum: [...TRADITIONAL_AUGMENTATIONS] },
  mixAlpha: positiveNumber(100, "Beta(α, α) of MixUp/CutMix (paper: 1.0)"),
  mixProbability: unit("share of batches MixUp/CutMix applies to (paper: 0.5)"),
};

/** A fine-tuning component as overrides (every field optional). */
const finetuningOverride = object(finetuningProperties);
/** A generation component as overrides. */
const generationOverride = object(generationProperties);
/** A utilization component as overrides. */
const utilizationOverride = object(utilizationProperties);

/** A resolved fine-tuning component. */
export const finetuningSchema = object(finetuningProperties, ["method"]);
/** A resolved generation component. */
export const generationSchema = object(generationProperties, ["mode", "syntheticPerReal", "sampling"]);
/** A resolved utilization component. */
export const utilizationSchema = object(utilizationProperties, ["mode", "traditionalAugmentation"]);

/** A preset as `GET /v1/methods` lists it. */
export const presetSchema = {
  type: "object",
  required: [
    "id",
    "name",
    "kind",
    "reference",
    "description",
    "finetuning",
    "generation",
    "utilization",
    "source",
  ],
  properties: {
    id: { type: "string", enum: [...PRESET_IDS] },
    name: { type: "string" },
    kind: { type: "string", enum: ["diffda", "baseline"] },
    reference: { type: "string" },
    description: { type: "string" },
    finetuning: finetuningSchema,
    generation: { anyOf: [generationSchema, { type: "null" }] },
    utilization: utilizationSchema,
    source: { type: "string", description: "where the defaults come from (sections of docs/methods.md)" },
  },
  additionalProperties: false,
} as const satisfies JsonSchema;

const unitList = (description: string, defaults: readonly number[]) => ({
  type: "array",
  minItems: 1,
  maxItems: 8,
  uniqueItems: true,
  items: { type: "number", minimum: 0, maximum: 1 },
  default: [...defaults],
  description,
});

/** `methods[i].search` of a job request (only with preset "auto"): the space and budget of the search. */
const searchRequestSchema = {
  type: "object",
  properties: {
    presets: {
      type: "array",
      minItems: 1,
      maxItems: 7,
      items: {
        anyOf: [
          { type: "string", enum: [...DIFFDA_IDS] },
          object(
            {
              preset: { type: "string", enum: [...DIFFDA_IDS] },
              finetuning: finetuningOverride,
              generation: generationOverride,
              utilization: utilizationOverride,
            },
            ["preset"],
          ),
        ],
      },
      default: [...DEFAULT_SEARCH.presets],
      description: `DiffDA presets to try, by id or with overrides of their components (at most ${MAX_CANDIDATES} candidates in all)`,
    },
    strengths: unitList(
      "SDEdit strengths to try where the preset's mode takes one",
      DEFAULT_SEARCH.strengths,
    ),
    replaceProbabilities: unitList(
      "replacement probabilities p to try (local replacement, or the preset's global one)",
      DEFAULT_SEARCH.replaceProbabilities,
    ),
    validationFraction: {
      type: "number",
      minimum: 0.05,
      maximum: 0.5,
      default: DEFAULT_SEARCH.validationFraction,
      description: "share of each class's training images held out to score the candidates",
    },
    rungs: {
      type: "integer",
      minimum: 1,
      maximum: 4,
      default: DEFAULT_SEARCH.rungs,
      description:
        "rounds of successive halving; round r trains each survivor with 2^r more classifier seeds",
    },
    minGain: {
      type: "number",
      minimum: 0,
      maximum: 1,
      default: DEFAULT_SEARCH.minGain,
      description: "validation top-1 (0–1) the best candidate must gain over no-augmentation to be chosen",
    },
    confidence: {
      type: "number",
      minimum: 0.5,
      maximum: 0.999,
      default: DEFAULT_SEARCH.confidence,
      description:
        "level of the paired bootstrap interval of that gain (over classifier seeds and validation images); the candidate is chosen only when its lower end is above 0",
    },
  },
  additionalProperties: false,
} as const satisfies JsonSchema;

/** One method of a job request: a preset with overrides, or a custom composition of all three parts. */
export const methodRequestSchema = {
  type: "object",
  properties: {
    preset: {
      type: "string",
      enum: [...PRESET_IDS, AUTO_PRESET],
      description:
        "start from this preset; the other fields override it. auto: let the service choose a preset and its strength and p on a validation split (see search)",
    },
    label: {
      type: "string",
      pattern: "^[a-z0-9][a-z0-9-]{0,39}$",
      description:
        "name of this method in results (default: the preset id, or custom-<n>); unique in the job",
    },
    finetuning: finetuningOverride,
    generation: generationOverride,
    utilization: utilizationOverride,
    filtering: filteringRequestSchema,
    adapters: {
      type: "array",
      items: uuidSchema,
      minItems: 1,
      maxItems: 16,
      uniqueItems: true,
      description:
        "stored adapters (POST /v1/adapters) to generate with, by id, instead of fine-tuning (finetuning.method must be none); they must fit the method's model, which defaults to theirs",
    },
    search: searchRequestSchema,
  },
  additionalProperties: false,
} as const satisfies JsonSchema;

/** A resolved method as stored in a job's spec. */
export const resolvedMethodSchema = {
  type: "object",
  required: ["label", "preset", "kind", "finetuning", "generation", "utilization"],
  properties: {
    label: { type: "string" },
    preset: { type: ["string", "null"] },
    kind: { type: "string", enum: ["diffda", "baseline"] },
    finetuning: finetuningSchema,
    generation: { anyOf: [generationSchema, { type: "null" }] },
    utilization: utilizationSchema,
    filtering: filteringSchema,
    adapters: {
      type: "array",
      description: "the stored adapters the generation applied, as they were when the job was submitted",
      items: {
        type: "object",
        required: ["id", "kind", "model", "sha256", "tokens", "rank", "alpha"],
        properties: {
          id: uuidSchema,
          kind: { type: "string", enum: ["lora", "textual_inversion"] },
          model: { type: "string" },
          sha256: { type: "string" },
          tokens: { type: "array", items: { type: "string" } },
          rank: { type: "integer", minimum: 0 },
          alpha: { type: "number", minimum: 0 },
        },
        additionalProperties: false,
      },
    },
  },
  additionalProperties: false,
} as const satisfies JsonSchema;
