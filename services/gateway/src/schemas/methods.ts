/**
 * Schemas of the three UniDiffDA components, built from the option lists in presets.ts so that the API,
 * the presets and the validation can never disagree on a name. `full` variants describe a resolved
 * component (what presets and stored specs hold); override variants (every field optional) are what a
 * job request may send on top of a preset.
 */
import {
  FINETUNE_METHODS,
  GENERATION_MODES,
  PRESET_IDS,
  SCHEDULERS,
  TRADITIONAL_AUGMENTATIONS,
  UTILIZATION_MODES,
} from "../presets.js";
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
const strings = (maxItems: number, maxLength: number, description: string) => ({
  type: "array",
  minItems: 1,
  maxItems,
  items: { type: "string", minLength: 1, maxLength },
  description,
});
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
    description: "token whose embedding seeds the new ones",
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
  strength: {
    type: "number",
    exclusiveMinimum: 0,
    maximum: 1,
    description: "SDEdit noise strength in (0, 1]",
  },
  epsilon: positiveNumber(100, "GIF: L∞ radius of the latent perturbation (paper: 0.8)"),
  stepSize: positiveNumber(100, "GIF: signed-gradient step (paper: 0.1)"),
  rotationDegrees: {
    type: "number",
    minimum: 0,
    maximum: 180,
    description: "GIF: random rotation of the source",
  },
  horizontalFlip: { type: "boolean", description: "GIF: random horizontal flip of the source" },
  instructions: strings(64, 300, "DiffuseMix: edit instructions, one drawn per sample"),
  imageGuidanceScale: { type: "number", minimum: 0, maximum: 50, description: "DiffuseMix: image guidance" },
  halfConcat: { type: "boolean", description: "DiffuseMix: concatenate half of the edit with the original" },
  blendWidth: {
    type: "integer",
    minimum: 0,
    maximum: 512,
    description: "DiffuseMix: seam blend width in pixels",
  },
  fractalAlpha: unit("DiffuseMix: alpha of the fractal blend; 0 disables it"),
  inversionSteps: positiveInt(1000, "Diff-II: DDIM inversion steps (paper: 200)"),
  inversionGuidanceScale: {
    type: "number",
    minimum: 0,
    maximum: 50,
    description: "Diff-II: guidance while inverting",
  },
  splitRatio: unit("Diff-II: share of the schedule using the suffixed prompt (paper: 0.3)"),
  promptSuffixes: strings(64, 200, "Diff-II: scene phrases for the first stage"),
  maxAngle: {
    type: "number",
    exclusiveMinimum: 0,
    maximum: 6.2832,
    description: "Diff-II: largest slerp angle, radians",
  },
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
export const finetuningOverride = object(finetuningProperties);
/** A generation component as overrides. */
export const generationOverride = object(generationProperties);
/** A utilization component as overrides. */
export const utilizationOverride = object(utilizationProperties);

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

/** One method of a job request: a preset with overrides, or a custom composition of all three parts. */
export const methodRequestSchema = {
  type: "object",
  properties: {
    preset: {
      type: "string",
      enum: [...PRESET_IDS],
      description: "start from this preset; the other fields override it",
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
