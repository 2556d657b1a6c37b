/** Schemas of the dataset routes. */
import { BUILTIN_DATASETS } from "../../../../shared/data/index.js";
import { type JsonSchema, pageQuery, timestamp } from "./common.js";

const name = { type: "string", minLength: 1, maxLength: 200, description: "a display name" };

const uploadOptions = {
  name,
  channels: { type: "integer", enum: [1, 3], default: 3, description: "1: grayscale, 3: RGB" },
  size: {
    type: "integer",
    minimum: 8,
    maximum: 1024,
    default: 32,
    description: "square side images are resized to",
  },
  testFraction: {
    type: "number",
    minimum: 0.05,
    maximum: 0.9,
    default: 0.2,
    description:
      "share of each class held out for evaluation (classes of one image keep it for training); ignored when the upload brings its own test split",
  },
  splitSeed: {
    type: "integer",
    minimum: 0,
    maximum: Number.MAX_SAFE_INTEGER,
    default: 0,
    description: "seed of the held-out draw; ignored when the upload brings its own test split",
  },
};

/** A built-in few-shot task. */
export const builtinDatasetRequest = {
  type: "object",
  required: ["builtin", "shots"],
  properties: {
    builtin: { type: "string", enum: [...BUILTIN_DATASETS] },
    shots: { type: "integer", minimum: 1, maximum: 1000, description: "train images per class" },
    seed: {
      type: "integer",
      minimum: 0,
      maximum: Number.MAX_SAFE_INTEGER,
      default: 0,
      description: "which images are drawn",
    },
    classes: {
      type: "array",
      minItems: 1,
      maxItems: 1000,
      uniqueItems: true,
      items: {
        anyOf: [
          { type: "string", minLength: 1, maxLength: 100 },
          { type: "integer", minimum: 0 },
        ],
      },
      description: "classes to keep, by name or index (default: all)",
    },
    testPerClass: {
      type: "integer",
      minimum: 1,
      maximum: 100_000,
      description: "fixed test subset per class",
    },
    name,
  },
  additionalProperties: false,
} as const satisfies JsonSchema;

/** Images sent inline as base64 with their class labels. */
export const imagesDatasetRequest = {
  type: "object",
  required: ["images"],
  properties: {
    images: {
      type: "array",
      minItems: 1,
      maxItems: 100_000,
      items: {
        type: "object",
        required: ["label", "data"],
        properties: {
          label: {
            type: "string",
            minLength: 1,
            maxLength: 100,
            pattern: "^[^/\\\\\\x00-\\x1f]+$",
            description: "class name (no slashes or control characters)",
          },
          data: {
            type: "string",
            minLength: 4,
            pattern: "^[A-Za-z0-9+/]*={0,2}$",
            description: "base64 of a PNG, JPEG or WebP file",
          },
          name: { type: "string", minLength: 1, maxLength: 200, pattern: "^[^/\\\\\\x00-\\x1f]+$" },
          split: {
            type: "string",
            enum: ["train", "test"],
            description:
              "the image's split; if any image says test, the split is taken as given (unmarked images train) and nothing is held out",
          },
        },
        additionalProperties: false,
      },
    },
    ...uploadOptions,
  },
  additionalProperties: false,
} as const satisfies JsonSchema;

/** Query of a zip upload (`Content-Type: application/zip`). */
export const archiveUploadQuery = {
  type: "object",
  properties: uploadOptions,
  additionalProperties: false,
} as const satisfies JsonSchema;

/** A dataset as the API shows it. */
export const datasetSchema = {
  type: "object",
  required: [
    "id",
    "name",
    "kind",
    "classes",
    "imageCount",
    "trainCount",
    "testCount",
    "image",
    "builtin",
    "split",
    "createdAt",
  ],
  properties: {
    id: { type: "string" },
    name: { type: "string" },
    kind: { type: "string", enum: ["builtin", "upload"] },
    classes: { type: "array", items: { type: "string" } },
    imageCount: { type: "integer" },
    trainCount: { type: "integer" },
    testCount: { type: "integer" },
    image: {
      type: "object",
      required: ["channels", "height", "width"],
      properties: { channels: { type: "integer" }, height: { type: "integer" }, width: { type: "integer" } },
      additionalProperties: false,
    },
    builtin: {
      anyOf: [
        {
          type: "object",
          required: ["name", "shots", "seed", "testPerClass"],
          properties: {
            name: { type: "string" },
            shots: { type: "integer" },
            seed: { type: "integer" },
            testPerClass: { type: ["integer", "null"] },
          },
          additionalProperties: false,
        },
        { type: "null" },
      ],
    },
    split: {
      type: "string",
      enum: ["builtin", "holdout", "user"],
      description:
        "how the test split was made: the built-in dataset's own, held out per class from `splitSeed`, or the user's",
    },
    createdAt: timestamp,
  },
  additionalProperties: false,
} as const satisfies JsonSchema;

/** One image of `GET /v1/datasets/{id}/files`. */
export const datasetFileSchema = {
  type: "object",
  required: ["name", "class", "split", "sha256"],
  properties: {
    name: {
      type: "string",
      description:
        "the image's path in the upload (`cat/0.png`, `train/cat/0.png`; JSON images `<label>/<name>`, with a split `<split>/<label>/<name>`); for a built-in task `<class>/<index in the built-in dataset>`",
    },
    class: { type: "string" },
    split: { type: "string", enum: ["train", "test"] },
    sha256: {
      type: "string",
      pattern: "^[0-9a-f]{64}$",
      description: "digest of the normalised PNG that jobs train or test on",
    },
  },
  additionalProperties: false,
} as const satisfies JsonSchema;

/** `GET /v1/datasets/{id}/files` query. */
export const datasetFilesQuery = {
  type: "object",
  properties: {
    ...pageQuery,
    split: { type: "string", enum: ["train", "test"], description: "only the images of this split" },
  },
  additionalProperties: false,
} as const satisfies JsonSchema;

/** `GET /v1/datasets` query. */
export const datasetListQuery = {
  type: "object",
  properties: { ...pageQuery },
  additionalProperties: false,
} as const satisfies JsonSchema;
