/** Adapters: LoRA and textual-inversion files kept as resources that jobs apply by id. */
import { type JsonSchema, pageQuery, timestamp, uuidSchema } from "./common.js";

/** The kinds of adapter file the API accepts. */
const ADAPTER_KINDS = ["lora", "textual_inversion"] as const;

/** An adapter as the API shows it. */
export const adapterSchema = {
  type: "object",
  required: [
    "id",
    "name",
    "kind",
    "model",
    "sha256",
    "bytes",
    "tokens",
    "rank",
    "alpha",
    "sourceJobId",
    "createdAt",
  ],
  properties: {
    id: uuidSchema,
    name: { type: "string" },
    kind: { type: "string", enum: [...ADAPTER_KINDS] },
    model: {
      type: "string",
      description: "the model id it was checked against; jobs use it only on that model",
    },
    sha256: { type: "string", description: "digest of the safetensors file" },
    bytes: { type: "integer", minimum: 0 },
    tokens: {
      type: "array",
      items: { type: "string" },
      description:
        "textual inversion: the placeholder tokens the file defines (write them in prompt templates)",
    },
    rank: { type: "integer", minimum: 0, description: "LoRA rank as given at upload; 0: not given" },
    alpha: {
      type: "number",
      minimum: 0,
      description:
        "LoRA alpha for files without their own (update × alpha / rank); 0: the file's own, else the rank",
    },
    sourceJobId: {
      anyOf: [uuidSchema, { type: "null" }],
      description: "the job that trained it; null for uploads",
    },
    createdAt: timestamp,
  },
  additionalProperties: false,
} as const satisfies JsonSchema;

/** The query string of `POST /v1/adapters` (the body is the safetensors file). */
export const adapterUploadQuery = {
  type: "object",
  required: ["name", "kind", "model"],
  properties: {
    name: { type: "string", minLength: 1, maxLength: 200, description: "a name for people" },
    kind: { type: "string", enum: [...ADAPTER_KINDS], description: "what the file holds" },
    model: {
      type: "string",
      minLength: 1,
      maxLength: 128,
      pattern: "^[A-Za-z0-9][A-Za-z0-9._-]*$",
      description: "the model id (GET /v1/models) the file was trained on; it is checked against that model",
    },
    tokens: {
      type: "string",
      minLength: 1,
      maxLength: 2000,
      pattern: "^[^\\s,]{1,100}(,[^\\s,]{1,100})*$",
      description:
        "textual inversion: the placeholder tokens, comma-separated, in the file's order; needed for A1111 files (one emb_params tensor), else the file's keys",
    },
    rank: { type: "integer", minimum: 0, maximum: 4096, description: "LoRA rank (kept for reference)" },
    alpha: {
      type: "number",
      minimum: 0,
      maximum: 1000000,
      description:
        "LoRA alpha for files whose keys carry none (PEFT); default: the file's own, else the rank",
    },
  },
  additionalProperties: false,
} as const satisfies JsonSchema;

/** The query string of `GET /v1/adapters`. */
export const adapterListQuery = {
  type: "object",
  properties: { ...pageQuery },
  additionalProperties: false,
} as const satisfies JsonSchema;
