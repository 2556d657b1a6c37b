/** Schemas of the job routes: the submission, the job resource with its results, lists, artifacts. */
// The registry itself, not shared/classifier's index: the gateway loads no ML engine.
import { ARCHITECTURES } from "../../../../shared/classifier/architectures.js";
import { BACKBONE_IDS } from "../../../../shared/classifier/backbones.js";
import { BASELINE_IDS } from "../presets.js";
import { WEBHOOK_EVENTS } from "../store/webhooks.js";
import { type JsonSchema, nullableTimestamp, pageQuery, timestamp, uuidSchema } from "./common.js";
import { filteringResultSchema } from "./filtering.js";
import { methodRequestSchema, resolvedMethodSchema } from "./methods.js";
import { searchSpecSchema, searchTraceSchema } from "./search.js";

const seed = { type: "integer", minimum: 0, maximum: Number.MAX_SAFE_INTEGER };

const imageSizeSchema = {
  type: "object",
  required: ["height", "width"],
  properties: { height: { type: "integer" }, width: { type: "integer" } },
  additionalProperties: false,
};

const classifierProperties = {
  architecture: {
    type: "string",
    enum: Object.keys(ARCHITECTURES),
    description: "network from the classifier's registry (default: the gateway's CLASSIFIER_ARCHITECTURE)",
  },
  backbone: {
    type: "string",
    enum: [...BACKBONE_IDS],
    description:
      "where the weights start: scratch (default) the seeded initialisation; tinted-digits-resnet8 a resnet8 pretrained on recoloured mnist digits (no task's classes or images; docs/classifier.md), fine-tuned per run with a new head. A backbone fixes the architecture",
  },
  budget: {
    type: "string",
    enum: ["steps", "epochs"],
    description:
      "what every run of the job shares: steps (default) — the no-augmentation baseline's optimizer steps at its batch size, so a gain cannot come from extra steps; epochs — passes over each run's own training set (runs that add synthetic images to an epoch then take more steps)",
  },
  epochs: { type: "integer", minimum: 1, maximum: 1000 },
  batchSize: { type: "integer", minimum: 1, maximum: 4096 },
  learningRate: { type: "number", exclusiveMinimum: 0, maximum: 10 },
  optimizer: { type: "string", enum: ["sgd", "adamw"] },
  weightDecay: { type: "number", minimum: 0, maximum: 1 },
  labelSmoothing: { type: "number", minimum: 0, maximum: 0.99 },
  imageSize: { type: "integer", minimum: 8, maximum: 1024 },
};

const webhookEventsSchema = {
  type: "array",
  minItems: 1,
  maxItems: WEBHOOK_EVENTS.length,
  uniqueItems: true,
  items: { type: "string", enum: [...WEBHOOK_EVENTS] },
};

/** A job's webhook as requested and as stored in its spec. */
const webhookSchema = {
  type: "object",
  required: ["url"],
  properties: {
    url: {
      type: "string",
      format: "uri",
      maxLength: 2048,
      description:
        "https URL the job's events are POSTed to (Standard Webhooks, signed with this key's secret); loopback, private and link-local destinations are refused",
    },
    events: {
      ...webhookEventsSchema,
      description: "events to deliver (default: job.succeeded, job.failed, job.cancelled)",
    },
  },
  additionalProperties: false,
};

const jobKindSchema = {
  type: "string",
  enum: ["evaluate", "generate"],
  description:
    "evaluate (default): generate, then train and score a classifier per (method, seed) beside the baselines; generate: only the synthetic sets (download them from /v1/jobs/{id}/synthetic.zip), no baselines, no classifier",
};

/** Body of `POST /v1/jobs`. */
export const jobRequestSchema = {
  type: "object",
  required: ["datasetId", "methods"],
  properties: {
    datasetId: uuidSchema,
    kind: jobKindSchema,
    name: { type: "string", minLength: 1, maxLength: 200 },
    methods: {
      type: "array",
      minItems: 1,
      maxItems: 16,
      items: methodRequestSchema,
      description: "methods to compare: presets with overrides, or custom compositions",
    },
    seeds: {
      type: "array",
      minItems: 1,
      maxItems: 10,
      uniqueItems: true,
      items: seed,
      default: [0],
      description:
        "each method runs once per seed (generation and classifier training); results give mean ± std",
    },
    baselines: {
      type: "array",
      maxItems: BASELINE_IDS.length,
      uniqueItems: true,
      items: { type: "string", enum: [...BASELINE_IDS] },
      description: "baselines run beside the methods (default: all of them)",
    },
    classifier: { type: "object", properties: classifierProperties, additionalProperties: false },
    shardSize: {
      type: "integer",
      minimum: 1,
      maximum: 10_000,
      description: "synthetic images per generation shard",
    },
    webhook: webhookSchema,
  },
  additionalProperties: false,
} as const satisfies JsonSchema;

/** A resolved job spec as stored. */
export const jobSpecSchema = {
  type: "object",
  required: ["version", "name", "datasetId", "seeds", "methods", "classifier", "shardSize"],
  properties: {
    version: { type: "integer" },
    kind: jobKindSchema,
    name: { type: ["string", "null"] },
    datasetId: { type: "string" },
    seeds: { type: "array", items: seed },
    methods: { type: "array", items: resolvedMethodSchema },
    classifier: { type: "object", properties: classifierProperties, additionalProperties: false },
    shardSize: { type: "integer" },
    webhook: { ...webhookSchema, required: ["url", "events"] },
    search: searchSpecSchema,
  },
  additionalProperties: false,
} as const satisfies JsonSchema;

const meanStd = {
  type: "object",
  required: ["mean", "std", "n"],
  properties: {
    mean: { type: ["number", "null"] },
    std: { type: ["number", "null"], description: "sample standard deviation (n − 1); null for one seed" },
    n: { type: "integer" },
  },
  additionalProperties: false,
};
const cpuValue = { type: ["number", "null"] };
const methodCpu = {
  type: "object",
  required: [
    "finetune",
    "generate",
    "train",
    "evaluate",
    "total",
    "perSyntheticImage",
    "perSyntheticImageWithFinetune",
    "finetuneSharedWith",
  ],
  properties: {
    finetune: {
      ...cpuValue,
      description: "the fine-tuning task the method used, in full even when shared (see finetuneSharedWith)",
    },
    generate: { ...cpuValue, description: "its generation shards, all seeds" },
    train: { ...cpuValue, description: "its classifier trainings, all seeds" },
    evaluate: { ...cpuValue, description: "its evaluations, all seeds" },
    total: { ...cpuValue, description: "finetune + generate + train + evaluate" },
    perSyntheticImage: { ...cpuValue, description: "generate ÷ synthetic images" },
    perSyntheticImageWithFinetune: { ...cpuValue, description: "(finetune + generate) ÷ synthetic images" },
    finetuneSharedWith: {
      type: "array",
      items: { type: "string" },
      description: "other methods of the job that used the same fine-tuning task",
    },
  },
  additionalProperties: false,
  description:
    "CPU seconds (user + system) the compute services reported, from process.cpuUsage(); calls that overlap in one service process share its clock evenly, and failed attempts are not counted. null: a task reported none (0: the method has no such stage)",
};

const perClass = {
  type: "array",
  items: { type: ["number", "null"] },
  description: "in class order; null: no test image",
};

/** What the summarize task stores as the job's result. */
export const jobResultSchema = {
  type: "object",
  required: ["classes", "methods", "stages"],
  properties: {
    classes: { type: "array", items: { type: "string" } },
    methods: {
      type: "array",
      items: {
        type: "object",
        required: [
          "label",
          "preset",
          "kind",
          "runs",
          "top1Accuracy",
          "perClassAccuracy",
          "gainOverBaseline",
          "generation",
        ],
        properties: {
          label: { type: "string" },
          preset: { type: ["string", "null"] },
          kind: { type: "string", enum: ["diffda", "baseline"] },
          runs: {
            type: "array",
            items: {
              type: "object",
              required: [
                "seed",
                "top1Accuracy",
                "perClassAccuracy",
                "meanLoss",
                "sampleCount",
                "syntheticImages",
                "trainSeconds",
              ],
              properties: {
                seed,
                top1Accuracy: { type: "number" },
                perClassAccuracy: perClass,
                meanLoss: { type: ["number", "null"] },
                sampleCount: { type: "integer" },
                syntheticImages: { type: "integer" },
                trainSeconds: { type: "number" },
                // Optional: results stored before the gateway kept each run's compute lack them.
                epochs: { type: ["integer", "null"], description: "epochs the classifier trained" },
                batchSize: {
                  type: ["integer", "null"],
                  description: "samples per step; sized to the training set when the job set none",
                },
                steps: { type: ["integer", "null"], description: "optimizer steps" },
                imagesSeen: {
                  type: ["integer", "null"],
                  description:
                    "samples trained on: steps × batch size, or every image of an epoch smaller than one batch",
                },
                finalTrainAccuracy: {
                  type: ["number", "null"],
                  description: "top-1 of the final weights on the real training images (at most 4096)",
                },
                backbone: {
                  type: ["string", "null"],
                  description:
                    "the weights the classifier started from: scratch or a pretrained backbone (null: not reported)",
                },
              },
              additionalProperties: false,
            },
          },
          top1Accuracy: meanStd,
          perClassAccuracy: {
            type: "object",
            required: ["mean", "std"],
            properties: { mean: perClass, std: perClass },
            additionalProperties: false,
          },
          gainOverBaseline: {
            anyOf: [
              {
                type: "object",
                required: ["baseline", "mean", "std", "n"],
                properties: {
                  baseline: { type: "string" },
                  ...meanStd.properties,
                  // Optional: results stored before evaluations returned per-image predictions lack it.
                  interval: {
                    anyOf: [
                      {
                        type: "object",
                        required: ["low", "high", "level", "seeds", "images", "resolved"],
                        properties: {
                          low: { type: "number" },
                          high: { type: "number" },
                          level: { type: "number", description: "coverage, 0.95" },
                          seeds: { type: "integer" },
                          images: { type: "integer" },
                          resolved: { type: "boolean", description: "the interval excludes 0" },
                        },
                        additionalProperties: false,
                      },
                      { type: "null" },
                    ],
                    description:
                      "paired bootstrap percentile interval of the gain, resampling seeds and test images together (the same images for both classifiers); null: no per-image results",
                  },
                },
                additionalProperties: false,
              },
              { type: "null" },
            ],
            description: "top-1 minus the no-augmentation baseline's, paired by seed",
          },
          filtering: {
            ...filteringResultSchema,
            description:
              "what sample filtering dropped, per run and class (absent: the method does not filter)",
          },
          generation: {
            anyOf: [
              {
                type: "object",
                required: ["images", "seconds", "imagesPerSecond"],
                properties: {
                  images: { type: "integer" },
                  seconds: { type: "number", description: "summed server time of the shards" },
                  imagesPerSecond: { type: ["number", "null"] },
                  models: {
                    type: "array",
                    description:
                      "the base models the shards drew with, by id and folder digest (GET /v1/models); more than one only when replicas served different files under one id",
                    items: {
                      type: "object",
                      required: ["id", "sha256"],
                      properties: { id: { type: "string" }, sha256: { type: "string" } },
                      additionalProperties: false,
                    },
                  },
                },
                additionalProperties: false,
              },
              { type: "null" },
            ],
          },
          // Optional, like stages[*].cpuSeconds: results stored before the services measured CPU lack it.
          cpuSeconds: methodCpu,
        },
        additionalProperties: false,
      },
    },
    testImages: {
      type: ["integer", "null"],
      description: "test images every run was scored on",
    },
    resolution: {
      type: "object",
      description:
        "sizes in pixels: the dataset's images, what the classifier trained and was tested at, and what the generation model produced per method (images are resized to the classifier's size either way)",
      required: ["dataset", "classifier", "generation"],
      properties: {
        dataset: imageSizeSchema,
        classifier: imageSizeSchema,
        generation: { type: "object", additionalProperties: imageSizeSchema },
      },
      additionalProperties: false,
    },
    warnings: {
      type: "array",
      description:
        "what to know before trusting a figure: `small_test_split` (under 100 test images), `gain_unresolved` (a gain whose interval includes 0), `resized` (synthetic images generated at another size than the classifier's, both named)",
      items: {
        type: "object",
        required: ["code", "message"],
        properties: {
          code: { type: "string", enum: ["gain_unresolved", "small_test_split", "resized", "auto_no_gain"] },
          method: { type: "string" },
          message: { type: "string" },
        },
        additionalProperties: false,
      },
    },
    search: {
      anyOf: [searchTraceSchema, { type: "null" }],
      description: "how the auto method chose its setting on the validation split (null: no auto method)",
    },
    stages: {
      type: "object",
      description:
        "per task kind: tasks, summed wall-clock seconds between start and finish, and summed CPU seconds the services reported (null: a task reported none)",
      additionalProperties: {
        type: "object",
        required: ["tasks", "seconds"],
        properties: { tasks: { type: "integer" }, seconds: { type: "number" }, cpuSeconds: cpuValue },
        additionalProperties: false,
      },
    },
  },
  additionalProperties: false,
} as const satisfies JsonSchema;

const taskCounts = {
  type: "object",
  required: ["pending", "running", "succeeded", "failed", "cancelled", "total"],
  properties: Object.fromEntries(
    ["pending", "running", "succeeded", "failed", "cancelled", "total"].map((k) => [k, { type: "integer" }]),
  ),
  additionalProperties: false,
};

/** A job as the API shows it. */
export const jobSchema = {
  type: "object",
  required: [
    "id",
    "name",
    "state",
    "datasetId",
    "spec",
    "tasks",
    "result",
    "error",
    "createdAt",
    "updatedAt",
    "startedAt",
    "finishedAt",
    "links",
  ],
  properties: {
    id: { type: "string" },
    name: { type: ["string", "null"] },
    state: { type: "string", enum: ["queued", "running", "succeeded", "failed", "cancelled"] },
    datasetId: { type: ["string", "null"] },
    spec: jobSpecSchema,
    tasks: taskCounts,
    result: { anyOf: [jobResultSchema, { type: "null" }] },
    error: {
      type: ["object", "null"],
      description: "why the job failed: the failing task's key and error",
      additionalProperties: true,
    },
    createdAt: timestamp,
    updatedAt: timestamp,
    startedAt: nullableTimestamp,
    finishedAt: nullableTimestamp,
    links: {
      type: "object",
      required: ["self", "events", "artifacts", "cancel"],
      properties: {
        self: { type: "string" },
        events: { type: "string" },
        artifacts: { type: "string" },
        cancel: { type: "string" },
      },
      additionalProperties: false,
    },
  },
  additionalProperties: false,
} as const satisfies JsonSchema;

/** A job in a list (without spec and result, to keep pages small). */
export const jobSummarySchema = {
  type: "object",
  required: ["id", "name", "state", "datasetId", "createdAt", "finishedAt"],
  properties: {
    id: { type: "string" },
    name: { type: ["string", "null"] },
    state: jobSchema.properties.state,
    datasetId: { type: ["string", "null"] },
    createdAt: timestamp,
    finishedAt: nullableTimestamp,
  },
  additionalProperties: false,
} as const satisfies JsonSchema;

/** `GET /v1/jobs` query. */
export const jobListQuery = {
  type: "object",
  properties: { ...pageQuery, state: jobSchema.properties.state },
  additionalProperties: false,
} as const satisfies JsonSchema;

/** An artifact as listed. */
export const artifactSchema = {
  type: "object",
  required: ["key", "kind", "sha256", "bytes", "mediaType", "meta", "createdAt", "href"],
  properties: {
    key: { type: "string" },
    kind: { type: "string" },
    sha256: { type: "string" },
    bytes: { type: "integer" },
    mediaType: { type: "string" },
    meta: { type: "object", additionalProperties: true },
    createdAt: timestamp,
    href: { type: "string", description: "download URL" },
  },
  additionalProperties: false,
} as const satisfies JsonSchema;

/** `GET /v1/jobs/:id/artifacts` query. */
export const artifactListQuery = {
  type: "object",
  properties: {
    prefix: {
      type: "string",
      maxLength: 256,
      description: "only keys starting with this, e.g. synthetic/diff-mix/",
    },
    after: { type: "string", maxLength: 512, description: "`nextAfter` of the previous page" },
    limit: { type: "integer", minimum: 1, maximum: 1000, default: 100 },
  },
  additionalProperties: false,
} as const satisfies JsonSchema;

/** A page of artifacts. */
export const artifactPageSchema = {
  type: "object",
  required: ["items", "nextAfter"],
  properties: {
    items: { type: "array", items: artifactSchema },
    nextAfter: {
      type: ["string", "null"],
      description: "pass as `after` for the next page; null at the end",
    },
  },
  additionalProperties: false,
} as const satisfies JsonSchema;
