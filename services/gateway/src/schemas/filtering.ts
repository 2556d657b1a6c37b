/**
 * Schemas of the filtering component (docs/methods.md#filtering): what a method request sends, what a
 * resolved method stores, and what the job result records per filtered method.
 */
import { FILTER_SCORERS } from "../filtering-spec.js";
import type { JsonSchema } from "./common.js";

const filteringProperties = {
  scorer: {
    type: "string",
    enum: [...FILTER_SCORERS],
    description:
      "none (default of every preset); classifier: the no-augmentation baseline's confidence in the intended class; clip: the CLIP model's class-prompt probability",
  },
  keepFraction: {
    type: "number",
    exclusiveMinimum: 0,
    maximum: 1,
    description: "keep the best-scoring ⌈keepFraction·n⌉ synthetic images of each class (at least one)",
  },
  minScore: {
    type: "number",
    minimum: 0,
    maximum: 1,
    description: "then drop every image scoring below this (scores are probabilities in [0, 1])",
  },
  sourceWeight: {
    type: "number",
    minimum: 0,
    maximum: 1,
    description: "clip only: weight of the image's similarity to its source image in the score (default 0)",
  },
};

/** The component in a method request. */
export const filteringRequestSchema = {
  type: "object",
  required: ["scorer"],
  properties: filteringProperties,
  additionalProperties: false,
} as const satisfies JsonSchema;

/** The component in a resolved method (absent there when the scorer is none). */
export const filteringSchema = {
  type: "object",
  required: ["scorer"],
  properties: { ...filteringProperties, scorer: { type: "string", enum: ["classifier", "clip"] } },
  additionalProperties: false,
} as const satisfies JsonSchema;

/** What one (method, seed) run's filtering did, per class. */
const filteredRunSchema = {
  type: "object",
  required: ["seed", "generated", "kept", "dropped", "perClass"],
  properties: {
    seed: { type: "integer" },
    generated: { type: "integer", description: "synthetic images scored" },
    kept: { type: "integer", description: "of which trained the classifier" },
    dropped: { type: "integer" },
    perClass: {
      type: "array",
      description: "in class order",
      items: {
        type: "object",
        required: ["class", "total", "kept", "dropped", "threshold"],
        properties: {
          class: { type: "string" },
          total: { type: "integer" },
          kept: { type: "integer" },
          dropped: { type: "integer" },
          threshold: {
            type: ["number", "null"],
            description: "the lowest score kept: the threshold the rule applied (null: nothing kept)",
          },
        },
        additionalProperties: false,
      },
    },
  },
  additionalProperties: false,
} as const satisfies JsonSchema;

/** A filtered method's filtering in the job result. */
export const filteringResultSchema = {
  type: "object",
  required: ["scorer", "keepFraction", "minScore", "runs"],
  properties: {
    scorer: { type: "string", enum: ["classifier", "clip"] },
    keepFraction: { type: ["number", "null"] },
    minScore: { type: ["number", "null"] },
    sourceWeight: { type: ["number", "null"] },
    runs: { type: "array", items: filteredRunSchema },
  },
  additionalProperties: false,
} as const satisfies JsonSchema;
