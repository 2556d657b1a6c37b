/**
 * Dataset routes. `POST /v1/datasets` takes one of:
 * - an ImageFolder archive (`class/file.png`, or `train/` and `test/` folders of classes) as a zip
 *   (`application/zip`), a tar or a tar.gz (`application/x-tar`, `application/gzip`, …: ARCHIVE_TYPES),
 *   options in the query string;
 * - `application/json` with `images` (base64 files with labels, optionally their split), options in the body;
 * - `application/json` with `builtin` (a few-shot task of a bundled dataset).
 * `GET /v1/datasets/:id/files` lists every image with its class and split.
 */
import { Ajv } from "ajv";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { ARCHIVE_TYPES, isZipType, mediaTypeOf } from "../archive/read-archive.js";
import {
  type BuiltinRequest,
  type DatasetSpec,
  type JsonImage,
  promptNamesOf,
  type UploadOptions,
} from "../datasets/dataset-service.js";
import { ApiError } from "../errors.js";
import { freeQuietly } from "../lifecycle/free-quietly.js";
import { canSee } from "../plugins/auth.js";
import type { UploadSlots } from "../plugins/upload-slots.js";
import { idempotencyHeaders, idParams, noContent, pageOf, problemResponses } from "../schemas/common.js";
import {
  archiveUploadQuery,
  builtinDatasetRequest,
  datasetFileSchema,
  datasetFilesQuery,
  datasetListQuery,
  datasetSchema,
  imagesDatasetRequest,
  promptNames as promptNamesSchema,
} from "../schemas/datasets.js";
import { type Dataset, pageOfList } from "../store/index.js";
import type { AppContext } from "./context.js";

/** The request body of one archive media type, for the route schema and OpenAPI. */
function archiveBody(mediaType: string) {
  // No `type`: the body arrives as bytes (a Buffer), which only the reader judges.
  return {
    schema: {
      contentMediaType: mediaType,
      description: `${isZipType(mediaType) ? "a zip" : "a tar, or a tar compressed with gzip (told apart by the bytes)"}: an ImageFolder archive, class/file.png, or train/class/file.png and test/class/file.png to bring the test split`,
    },
  };
}

/** The API's view of a dataset row. */
function toDatasetResource(dataset: Dataset) {
  const spec = dataset.spec as DatasetSpec;
  return {
    id: dataset.id,
    name: dataset.name,
    kind: dataset.kind,
    classes: dataset.classes,
    imageCount: dataset.imageCount,
    trainCount: spec.trainCount,
    testCount: spec.testCount,
    image: { channels: spec.channels, height: spec.height, width: spec.width },
    builtin:
      spec.kind === "builtin"
        ? { name: spec.builtin, shots: spec.shots, seed: spec.seed, testPerClass: spec.testPerClass }
        : null,
    split: spec.kind === "builtin" ? "builtin" : (spec.split ?? "holdout"),
    promptNames: Object.fromEntries(
      promptNamesOf(spec, dataset.classes).map((phrase, i) => [dataset.classes[i], phrase]),
    ),
    createdAt: dataset.createdAt,
  };
}

const checkPromptNames = new Ajv({ allErrors: true }).compile<Record<string, string>>(promptNamesSchema);

/** An archive's `?promptNames=` JSON text as the mapping, checked as the JSON body's (400 naming the field). */
function queryPromptNames(text: string): Record<string, string> {
  const field = "/query/promptNames";
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ApiError("validation_failed", "promptNames is not JSON text", {
      errors: [{ field, message: "must be JSON text of an object" }],
    });
  }
  if (!checkPromptNames(value)) {
    const errors = (checkPromptNames.errors ?? []).map((e) => ({
      field: `${field}${e.instancePath}`,
      message: e.message ?? "is invalid",
    }));
    throw new ApiError("validation_failed", `${errors.length} invalid field(s): ${field}`, { errors });
  }
  return value;
}

type ArchiveQuery = Omit<UploadOptions, "promptNames"> & { promptNames?: string };

type JsonDatasetBody =
  | (BuiltinRequest & { images?: undefined })
  | (UploadOptions & { images: JsonImage[]; builtin?: undefined });

/** Registers /v1/datasets. */
export async function datasetRoutes(
  app: FastifyInstance,
  { context, uploadSlots }: { context: AppContext; uploadSlots?: UploadSlots },
): Promise<void> {
  const { limits } = context;
  app.addContentTypeParser(
    [...ARCHIVE_TYPES],
    { parseAs: "buffer", bodyLimit: limits.uploadBodyBytes },
    (_request, body, done) => done(null, body),
  );

  app.post<{ Body: JsonDatasetBody | Buffer; Querystring: ArchiveQuery }>(
    "/v1/datasets",
    {
      bodyLimit: limits.uploadBodyBytes,
      // After the app's auth hook: an unauthenticated caller never takes a slot.
      ...(uploadSlots ? { onRequest: uploadSlots.hook } : {}),
      schema: {
        headers: idempotencyHeaders,
        querystring: archiveUploadQuery,
        body: {
          content: {
            "application/json": {
              schema: {
                description: "a built-in few-shot task (`builtin`) or images inline (`images`)",
                type: "object",
                if: { required: ["builtin"] },
                // biome-ignore lint/suspicious/noThenProperty: JSON Schema if/then/else
                then: builtinDatasetRequest,
                else: imagesDatasetRequest,
              },
            },
            ...Object.fromEntries(ARCHIVE_TYPES.map((type) => [type, archiveBody(type)])),
          },
        },
        response: { 201: datasetSchema, ...problemResponses },
      },
      config: {
        operationId: "createDataset",
        scope: "submit",
        tag: "datasets",
        summary:
          "Register a dataset: an ImageFolder zip, tar or tar.gz, base64 images with labels, or a built-in few-shot task",
        description:
          "Uploads are checked completely before anything is written: archive structure and entry paths, declared and inflated sizes, compression ratio, file count, formats by magic bytes, declared pixel counts, decodable pixels. A refused upload leaves no files and no row.",
      },
    },
    async (request, reply) => {
      const owner = request.principal.apiKeyId;
      const body = request.body;
      let dataset: Dataset;
      if (Buffer.isBuffer(body)) {
        const mediaType = mediaTypeOf(request.headers["content-type"]);
        const { promptNames, ...options } = request.query;
        dataset = await context.datasets.createFromArchive(
          body,
          mediaType,
          {
            ...options,
            ...(promptNames !== undefined ? { promptNames: queryPromptNames(promptNames) } : {}),
          },
          owner,
        );
      } else if (body.builtin !== undefined) {
        dataset = await context.datasets.createBuiltin(body, owner);
      } else {
        const { images, ...options } = body;
        dataset = await context.datasets.createFromImages(images, options, owner);
      }
      reply.code(201).header("location", `/v1/datasets/${dataset.id}`);
      return toDatasetResource(dataset);
    },
  );

  /** The dataset `id` if the caller may see it (shared, or its own), else 404 as if it did not exist. */
  const visibleDataset = async (request: FastifyRequest, id: string): Promise<Dataset> => {
    const dataset = await context.store.datasets.get(id);
    if (
      dataset === undefined ||
      !(dataset.apiKeyId === null || canSee(request.principal, dataset.apiKeyId))
    ) {
      throw new ApiError("not_found", `no dataset ${id}`);
    }
    return dataset;
  };

  app.get<{ Params: { id: string } }>(
    "/v1/datasets/:id",
    {
      schema: { params: idParams, response: { 200: datasetSchema, ...problemResponses } },
      config: {
        operationId: "getDataset",
        scope: "read",
        tag: "datasets",
        summary: "One dataset",
      },
    },
    async (request) => toDatasetResource(await visibleDataset(request, request.params.id)),
  );

  app.get<{
    Params: { id: string };
    Querystring: { limit?: number; cursor?: string; split?: "train" | "test" };
  }>(
    "/v1/datasets/:id/files",
    {
      schema: {
        params: idParams,
        querystring: datasetFilesQuery,
        response: { 200: pageOf(datasetFileSchema), ...problemResponses },
      },
      config: {
        operationId: "listDatasetFiles",
        scope: "read",
        tag: "datasets",
        summary: "The dataset's images with their class and split, in manifest order (`?split=` filters)",
        description:
          "Shows exactly which images the jobs train and test on: for an upload each file by its path in the upload, for a built-in task each picked image as `<class>/<index in the built-in dataset>`.",
      },
    },
    async (request) => {
      const files = await context.datasets.files(await visibleDataset(request, request.params.id));
      const { split } = request.query;
      return pageOfList(
        split === undefined ? files : files.filter((file) => file.split === split),
        request.query,
      );
    },
  );

  app.delete<{ Params: { id: string } }>(
    "/v1/datasets/:id",
    {
      schema: { params: idParams, response: { 204: noContent, ...problemResponses } },
      config: {
        operationId: "deleteDataset",
        scope: "submit",
        tag: "datasets",
        summary: "Delete a dataset and free its images (409 while a queued or running job reads it)",
        description:
          "Finished jobs keep their results (their datasetId becomes null). Shared datasets (no owner) can be deleted by an admin only. The bytes are freed at once unless identical content was written within ARTIFACT_GC_GRACE_MS or is held by another resource.",
      },
    },
    async (request, reply) => {
      const dataset = await visibleDataset(request, request.params.id);
      if (!canSee(request.principal, dataset.apiKeyId)) {
        throw new ApiError("forbidden", "only an admin can delete a shared dataset");
      }
      const outcome = await context.store.datasets.delete(dataset.id);
      if (outcome.outcome === "not_found") throw new ApiError("not_found", `no dataset ${dataset.id}`);
      if (outcome.outcome === "in_use") {
        throw new ApiError("dataset_in_use", `jobs still reading it: ${outcome.jobIds.join(", ")}`);
      }
      context.datasets.forget(dataset.id);
      await freeQuietly(context, request, outcome.blobs);
      return reply.code(204).send();
    },
  );

  app.get<{ Querystring: { limit?: number; cursor?: string } }>(
    "/v1/datasets",
    {
      schema: {
        querystring: datasetListQuery,
        response: { 200: pageOf(datasetSchema), ...problemResponses },
      },
      config: {
        operationId: "listDatasets",
        scope: "read",
        tag: "datasets",
        summary: "Datasets visible to this key (its own and the shared ones), newest first",
      },
    },
    async (request) => {
      const page = await context.store.datasets.list({
        limit: request.query.limit,
        cursor: request.query.cursor,
        ...(request.principal.admin ? {} : { apiKeyId: request.principal.apiKeyId ?? undefined }),
      });
      return { items: page.items.map(toDatasetResource), nextCursor: page.nextCursor };
    },
  );
}
