/**
 * A job's artifacts: the listing and single downloads by key (adapters, classifier checkpoints, images;
 * the synthetic set as one archive is routes/synthetic.ts). Keys only select rows; the file is always
 * found by the row's digest, so nothing in a URL ever reaches the file system. On the S3 store a download
 * is a redirect to a signed URL (the bytes never pass through the gateway); `?link=true` returns the URL.
 */
import type { FastifyInstance } from "fastify";
import { ApiError } from "../errors.js";
import { safeName } from "../exports/safe-name.js";
import { idParams, problemResponses } from "../schemas/common.js";
import { artifactListQuery, artifactPageSchema } from "../schemas/jobs.js";
import type { Artifact } from "../store/index.js";
import type { AppContext } from "./context.js";
import { visibleJob } from "./jobs.js";

const downloadLinkSchema = {
  type: "object",
  required: ["url", "expiresAt"],
  properties: {
    url: { type: "string", description: "signed GET URL of the file; needs no key" },
    expiresAt: { type: "string", format: "date-time" },
  },
  additionalProperties: false,
} as const;

function mediaTypeOf(artifact: Artifact): string {
  const meta = artifact.meta as { mediaType?: unknown } | null;
  return typeof meta?.mediaType === "string" ? meta.mediaType : "application/octet-stream";
}

/** Registers the artifact routes. */
export async function artifactRoutes(
  app: FastifyInstance,
  { context }: { context: AppContext },
): Promise<void> {
  const { store, artifacts } = context;

  app.get<{ Params: { id: string }; Querystring: { prefix?: string; after?: string; limit?: number } }>(
    "/v1/jobs/:id/artifacts",
    {
      schema: {
        params: idParams,
        querystring: artifactListQuery,
        response: { 200: artifactPageSchema, ...problemResponses },
      },
      config: {
        operationId: "listArtifacts",
        scope: "read",
        tag: "artifacts",
        summary: "A job's artifacts in key order: synthetic/…, adapter/…, checkpoint/…",
      },
    },
    async (request) => {
      const job = await visibleJob(context, request, request.params.id);
      const limit = request.query.limit ?? 100;
      const rows = await store.artifacts.list(job.id, {
        prefix: request.query.prefix,
        afterKey: request.query.after,
        limit: limit + 1,
      });
      const items = rows.slice(0, limit).map((artifact) => ({
        key: artifact.key,
        kind: artifact.kind,
        sha256: artifact.sha256,
        bytes: artifact.bytes,
        mediaType: mediaTypeOf(artifact),
        meta: (artifact.meta ?? {}) as object,
        createdAt: artifact.createdAt,
        href: `/v1/jobs/${job.id}/artifacts/${artifact.key.split("/").map(encodeURIComponent).join("/")}`,
      }));
      return { items, nextAfter: rows.length > limit ? items[items.length - 1].key : null };
    },
  );

  app.get<{ Params: { id: string; "*": string }; Querystring: { link?: boolean } }>(
    "/v1/jobs/:id/artifacts/*",
    {
      schema: {
        params: {
          type: "object",
          required: ["id", "*"],
          properties: { id: idParams.properties.id, "*": { type: "string", minLength: 1, maxLength: 512 } },
        },
        querystring: {
          type: "object",
          properties: {
            link: {
              type: "boolean",
              description:
                "true: answer the signed download URL as JSON instead of redirecting to it (S3 store only; 422 link_unavailable on the local store)",
            },
          },
          additionalProperties: false,
        },
        response: {
          200: {
            description:
              "the file (adapter safetensors, classifier checkpoint, PNG …); with ?link=true, its signed URL",
            content: {
              "application/octet-stream": { schema: { type: "string", format: "binary" } },
              "application/json": { schema: downloadLinkSchema },
            },
          },
          302: {
            type: "null",
            description:
              "S3 store: Location is a signed URL of the file, valid for S3_PRESIGN_TTL_SECONDS, that needs no key",
          },
          ...problemResponses,
        },
      },
      config: {
        operationId: "getArtifact",
        scope: "read",
        tag: "artifacts",
        summary: "Download one artifact by key",
        produces: "application/octet-stream",
      },
    },
    async (request, reply) => {
      const job = await visibleJob(context, request, request.params.id);
      const key = request.params["*"];
      const artifact = await store.artifacts.get(job.id, key);
      if (artifact === undefined) throw new ApiError("not_found", `job ${job.id} has no artifact ${key}`);
      const filename = safeName(key.split("/").pop() ?? key);
      // A store that cannot be asked (or cannot sign: no credentials) is an outage, not a bug.
      const [stored, link] = await Promise.all([
        artifacts.has(artifact.sha256),
        artifacts.link(artifact.sha256, { filename, mediaType: mediaTypeOf(artifact) }),
      ]).catch((error: unknown) => {
        throw new ApiError("unavailable", "the artifact store is unreachable", { cause: error });
      });
      if (!stored) throw new ApiError("internal", "the artifact's file is missing from the store");
      if (request.query.link === true) {
        if (link === undefined) {
          throw new ApiError(
            "link_unavailable",
            `this artifact store signs no links: download ${request.url.split("?")[0]} with your key`,
          );
        }
        return reply.type("application/json").send(link);
      }
      if (link !== undefined) return reply.redirect(link.url, 302);
      return reply
        .type(mediaTypeOf(artifact))
        .header("content-length", String(artifact.bytes))
        .header("etag", `"${artifact.sha256}"`)
        .header("content-disposition", `attachment; filename="${filename}"`)
        .send(await artifacts.stream(artifact.sha256));
    },
  );
}
