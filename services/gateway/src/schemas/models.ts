/** `GET /v1/models`: the models the generation replicas serve. */

/** One served model. */
export const modelSchema = {
  type: "object",
  required: ["id", "sha256", "bytes", "nativeSize", "pipeline", "summary", "card"],
  properties: {
    id: { type: "string", description: "the id a method names in `generation.model`" },
    sha256: {
      type: "string",
      description:
        'digest of the model folder: SHA-256 over "<file sha256>  <relative path>\\n" of every file, sorted by path; a job\'s result names it per method',
    },
    bytes: { type: "integer", minimum: 0, description: "size of the folder" },
    nativeSize: {
      type: "object",
      required: ["height", "width"],
      properties: { height: { type: "integer" }, width: { type: "integer" } },
      additionalProperties: false,
      description: "the size the model draws at (UNet sample size × VAE scale factor)",
    },
    pipeline: { type: "string", description: "`_class_name` of model_index.json" },
    summary: {
      type: "string",
      description: "the model card's first paragraph: what it is and what it was trained on",
    },
    card: { type: "string", description: "the model card (Markdown, at most 32 KiB)" },
  },
  additionalProperties: false,
} as const;

/** The list. */
export const modelListSchema = {
  type: "object",
  required: ["items"],
  properties: { items: { type: "array", items: modelSchema } },
  additionalProperties: false,
} as const;
