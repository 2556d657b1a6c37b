/**
 * Schemas of the `auto` method's search: what a job request may ask (its space and budget), what the
 * spec stores, and the trace the result reports.
 */
import { DEFAULT_SEARCH, MAX_CANDIDATES } from "../search/search-spec.js";
import type { JsonSchema } from "./common.js";

const unitList = (description: string, defaults: readonly number[]) => ({
  type: "array",
  minItems: 1,
  maxItems: 8,
  uniqueItems: true,
  items: { type: "number", minimum: 0, maximum: 1 },
  default: [...defaults],
  description,
});

/** `methods[i].search` of a job request (only with preset "auto"). */
export const searchRequestSchema = {
  type: "object",
  properties: {
    presets: {
      type: "array",
      minItems: 1,
      maxItems: 7,
      uniqueItems: true,
      items: { type: "string", minLength: 1, maxLength: 64 },
      default: [...DEFAULT_SEARCH.presets],
      description: `DiffDA presets to try (at most ${MAX_CANDIDATES} candidates in all)`,
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
  },
  additionalProperties: false,
} as const satisfies JsonSchema;

const setting = {
  type: "object",
  required: ["preset", "strength", "replaceProbability"],
  properties: {
    preset: { type: "string" },
    strength: { type: ["number", "null"] },
    replaceProbability: { type: ["number", "null"] },
  },
  additionalProperties: false,
} as const satisfies JsonSchema;

/** The search a job's spec stores (candidates are resolved methods). */
export const searchSpecSchema = {
  type: "object",
  required: ["label", "candidates", "validationFraction", "seed", "rungSeeds", "minGain"],
  properties: {
    label: { type: "string" },
    candidates: {
      type: "array",
      items: {
        type: "object",
        required: ["label", "setting", "syntheticOf"],
        properties: {
          label: { type: "string" },
          setting,
          syntheticOf: { type: ["string", "null"] },
        },
      },
    },
    validationFraction: { type: "number" },
    seed: { type: "integer" },
    rungSeeds: { type: "array", items: { type: "array", items: { type: "integer" } } },
    minGain: { type: "number" },
  },
} as const satisfies JsonSchema;

/** `result.search`: how the auto method chose (null when the job had none). */
export const searchTraceSchema = {
  type: "object",
  required: ["label", "validationImages", "candidates", "rungs", "chosen", "recommendation", "cpuSeconds"],
  properties: {
    label: { type: "string" },
    validationImages: { type: "integer", description: "training images held out to score the candidates" },
    candidates: {
      type: "array",
      items: {
        type: "object",
        required: ["label", "setting", "validation", "rungsReached"],
        properties: {
          label: { type: "string" },
          setting,
          validation: {
            type: "object",
            required: ["mean", "runs"],
            properties: {
              mean: { type: ["number", "null"] },
              runs: {
                type: "array",
                items: {
                  type: "object",
                  required: ["seed", "top1Accuracy"],
                  properties: { seed: { type: "integer" }, top1Accuracy: { type: "number" } },
                },
              },
            },
          },
          rungsReached: { type: "integer" },
        },
      },
    },
    rungs: {
      type: "array",
      items: {
        type: "object",
        required: ["seeds", "survivors"],
        properties: {
          seeds: { type: "array", items: { type: "integer" } },
          survivors: { type: "array", items: { type: "string" } },
        },
      },
    },
    chosen: {
      anyOf: [
        { type: "null" },
        {
          type: "object",
          required: ["label", "setting"],
          properties: { label: { type: "string" }, setting },
        },
      ],
    },
    recommendation: {
      type: ["string", "null"],
      enum: ["augment", "no_augmentation", null],
      description: "no_augmentation when no candidate beat no-augmentation on validation by minGain",
    },
    cpuSeconds: {
      type: ["number", "null"],
      description: "the search's compute: its fine-tuning, generation, training and scoring",
    },
  },
} as const satisfies JsonSchema;
