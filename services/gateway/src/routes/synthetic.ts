/**
 * The synthetic set as one download, in the format a trainer reads: `zip` (images by method, seed and
 * class, with manifest.json), `imagefolder` (Hugging Face datasets) or `webdataset` (tar shards; one
 * shard with `shard`). `/v1/jobs/{id}/synthetic.zip` stays as the zip format's address.
 */
import { Readable } from "node:stream";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { blobPathOf } from "../blob-store.js";
import { ApiError } from "../errors.js";
import { EXPORT_FORMATS, type ExportBody, type ExportFormat } from "../exports/export.js";
import { imagefolderExport } from "../exports/imagefolder.js";
import { SyntheticSet } from "../exports/synthetic-set.js";
import { DEFAULT_SHARD_SIZE, webdatasetExport, webdatasetShard } from "../exports/webdataset.js";
import { zipExport } from "../exports/zip-layout.js";
import { idParams, problemResponses } from "../schemas/common.js";
import type { AppContext } from "./context.js";
import { visibleJob } from "./jobs.js";

interface SyntheticQuery {
  format?: ExportFormat;
  method?: string;
  seed?: number;
  shardSize?: number;
  shard?: number;
}

const filterProperties = {
  method: {
    type: "string",
    pattern: "^[a-z0-9][a-z0-9-]{0,39}$",
    description: "only this method's images",
  },
  seed: { type: "integer", minimum: 0, description: "only this seed's images (with method)" },
} as const;

const formatProperties = {
  format: {
    type: "string",
    enum: [...EXPORT_FORMATS],
    default: "zip",
    description: "zip (manifest.json), imagefolder (Hugging Face, metadata.jsonl) or webdataset (tar shards)",
  },
  shardSize: {
    type: "integer",
    minimum: 1,
    maximum: 100_000,
    description: `webdataset: samples per shard (default ${DEFAULT_SHARD_SIZE})`,
  },
  shard: {
    type: "integer",
    minimum: 0,
    description: "webdataset: only this shard, as a plain tar (0-based)",
  },
} as const;

const binary = { schema: { type: "string", format: "binary" } } as const;

/** Registers the synthetic-set downloads. */
export async function syntheticRoutes(
  app: FastifyInstance,
  { context }: { context: AppContext },
): Promise<void> {
  const { store, artifacts, datasets } = context;

  async function send(request: FastifyRequest, reply: FastifyReply, query: SyntheticQuery) {
    const job = await visibleJob(context, request, (request.params as { id: string }).id);
    const { method, seed, format = "zip" } = query;
    if (seed !== undefined && method === undefined) {
      throw new ApiError("validation_failed", "seed filters need a method", {
        errors: [{ field: "/query/method", message: "is required with seed" }],
      });
    }
    if (format !== "webdataset" && (query.shard !== undefined || query.shardSize !== undefined)) {
      throw new ApiError("validation_failed", "shard and shardSize apply to the webdataset format", {
        errors: [{ field: "/query/format", message: "must be webdataset with shard or shardSize" }],
      });
    }
    const set = new SyntheticSet({ store, datasets }, job, { method, seed });
    const body: ExportBody = {
      jobId: job.id,
      classes: await set.classes(),
      records: (async function* () {
        for await (const record of set.records()) {
          blobPathOf(record.sha256); // a malformed digest throws before anything is read
          yield record;
        }
      })(),
      read: (sha256) => artifacts.read(sha256),
    };
    const stem = `${job.id}${method ? `-${method}` : ""}${seed !== undefined ? `-seed${seed}` : ""}-synthetic`;
    let stream: AsyncGenerator<Buffer>;
    let type = "application/zip";
    let filename = `${stem}.zip`;
    if (format === "zip") stream = zipExport(body);
    else if (format === "imagefolder") {
      stream = imagefolderExport(body);
      filename = `${stem}-imagefolder.zip`;
    } else {
      const shardSize = query.shardSize ?? DEFAULT_SHARD_SIZE;
      type = "application/x-tar";
      if (query.shard === undefined) {
        stream = webdatasetExport(body, shardSize);
        filename = `${stem}-webdataset.tar`;
      } else {
        const shard = await webdatasetShard(body, shardSize, query.shard);
        if (shard === null)
          throw new ApiError(
            "not_found",
            `job ${job.id} has no shard ${query.shard} of ${shardSize} samples`,
          );
        stream = shard;
        filename = `${stem}-${String(query.shard).padStart(6, "0")}.tar`;
      }
    }
    return reply
      .type(type)
      .header("content-disposition", `attachment; filename="${filename}"`)
      .send(Readable.from(stream));
  }

  app.get<{ Params: { id: string }; Querystring: SyntheticQuery }>(
    "/v1/jobs/:id/synthetic",
    {
      schema: {
        params: idParams,
        querystring: {
          type: "object",
          properties: { ...formatProperties, ...filterProperties },
          additionalProperties: false,
        },
        response: {
          200: {
            description:
              "the synthetic set: a zip (zip, imagefolder) or a tar (webdataset); layouts and metadata fields in docs/formats.md",
            content: { "application/zip": binary, "application/x-tar": binary },
          },
          ...problemResponses,
        },
      },
      config: {
        operationId: "downloadSyntheticSet",
        scope: "read",
        tag: "artifacts",
        summary: "The synthetic images in a trainer's format (zip, imagefolder, webdataset)",
        produces: "application/zip",
      },
    },
    (request, reply) => send(request, reply, request.query),
  );

  app.get<{ Params: { id: string }; Querystring: SyntheticQuery }>(
    "/v1/jobs/:id/synthetic.zip",
    {
      schema: {
        params: idParams,
        querystring: { type: "object", properties: filterProperties, additionalProperties: false },
        response: {
          200: {
            description:
              "zip: <method>/seed=<seed>/<class>/<sample>.png for every synthetic image, and manifest.json with each image's labels, soft label, source, strength and model (docs/formats.md)",
            content: { "application/zip": binary },
          },
          ...problemResponses,
        },
      },
      config: {
        operationId: "downloadSyntheticZip",
        scope: "read",
        tag: "artifacts",
        summary: "The synthetic images as a zip archive (the zip format of /synthetic)",
        produces: "application/zip",
      },
    },
    (request, reply) => send(request, reply, { ...request.query, format: "zip" }),
  );
}
