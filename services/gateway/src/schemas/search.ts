/**
 * Schemas of the `auto` method's search: what the spec stores and the trace the result reports (what a
 * request may ask is methods.ts `searchRequestSchema`, beside the overrides it reuses).
 */
import type { JsonSchema } from "./common.js";
import { resolvedMethodSchema } from "./methods.js";

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
      description:
        "candidate 0 is the no-augmentation reference; each is a resolved method and the setting it tries",
      items: {
        ...resolvedMethodSchema,
        required: [...resolvedMethodSchema.required, "setting", "syntheticOf"],
        properties: {
          ...resolvedMethodSchema.properties,
          setting,
          syntheticOf: {
            type: ["string", "null"],
            description:
              "the candidate whose synthetic images it trains on (candidates differing only in p share them)",
          },
        },
      },
    },
    validationFraction: { type: "number" },
    seed: { type: "integer" },
    rungSeeds: { type: "array", items: { type: "array", items: { type: "integer" } } },
    minGain: { type: "number" },
    confidence: { type: "number" },
  },
} as const satisfies JsonSchema;

/** `result.search`: how the auto method chose (null when the job had none). */
export const searchTraceSchema = {
  type: "object",
  required: [
    "label",
    "validationImages",
    "candidates",
    "rungs",
    "chosen",
    "recommendation",
    "evidence",
    "cpuSeconds",
  ],
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
    evidence: {
      anyOf: [
        { type: "null" },
        {
          type: "object",
          required: ["gain", "interval"],
          properties: {
            gain: {
              type: "number",
              description: "the best candidate's mean validation gain over no-augmentation (0–1)",
            },
            interval: {
              anyOf: [
                { type: "null" },
                {
                  type: "object",
                  required: ["low", "high", "level", "seeds", "images"],
                  properties: {
                    low: { type: "number" },
                    high: { type: "number" },
                    level: { type: "number" },
                    seeds: { type: "integer" },
                    images: { type: "integer" },
                  },
                },
              ],
            },
          },
        },
      ],
      description:
        "what the choice rests on: the best candidate's paired validation gain over no-augmentation",
    },
    cpuSeconds: {
      type: ["number", "null"],
      description: "the search's compute: its fine-tuning, generation, training and scoring",
    },
  },
} as const satisfies JsonSchema;
