/**
 * The named schemas of the OpenAPI document (`components.schemas`): wherever one of these objects
 * appears in a route's schema, the document says `$ref` instead of repeating it, so generated clients
 * get one type per concept (Job, Dataset, Problem …). Names are part of the public API: renaming one
 * renames a generated type.
 */
import { adapterSchema } from "./adapters.js";
import { problemSchema, serviceStatusSchema } from "./common.js";
import { builtinDatasetRequest, datasetFileSchema, datasetSchema, imagesDatasetRequest } from "./datasets.js";
import {
  artifactPageSchema,
  artifactSchema,
  jobRequestSchema,
  jobResultSchema,
  jobSchema,
  jobSpecSchema,
  jobSummarySchema,
} from "./jobs.js";
import { createdKeySchema, keyRequestSchema, keySchema } from "./keys.js";
import {
  finetuningSchema,
  generationSchema,
  methodRequestSchema,
  presetSchema,
  resolvedMethodSchema,
  utilizationSchema,
} from "./methods.js";
import { modelSchema } from "./models.js";
import { usageSchema } from "./usage.js";
import { webhookDeliverySchema, webhookSecretSchema } from "./webhooks.js";

/** Component name → the schema object routes use. */
export const COMPONENT_SCHEMAS: Readonly<Record<string, object>> = {
  Problem: problemSchema,
  ServiceStatus: serviceStatusSchema,
  BuiltinDatasetRequest: builtinDatasetRequest,
  ImagesDatasetRequest: imagesDatasetRequest,
  Dataset: datasetSchema,
  DatasetFile: datasetFileSchema,
  JobRequest: jobRequestSchema,
  JobSpec: jobSpecSchema,
  JobResult: jobResultSchema,
  Job: jobSchema,
  JobSummary: jobSummarySchema,
  Artifact: artifactSchema,
  ArtifactPage: artifactPageSchema,
  ApiKeyRequest: keyRequestSchema,
  ApiKey: keySchema,
  CreatedApiKey: createdKeySchema,
  MethodPreset: presetSchema,
  MethodRequest: methodRequestSchema,
  ResolvedMethod: resolvedMethodSchema,
  Finetuning: finetuningSchema,
  Generation: generationSchema,
  Utilization: utilizationSchema,
  Model: modelSchema,
  Adapter: adapterSchema,
  Usage: usageSchema,
  WebhookSecret: webhookSecretSchema,
  WebhookDelivery: webhookDeliverySchema,
};
