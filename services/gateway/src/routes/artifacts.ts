/**
 * A job's artifacts: the listing, single downloads by key (adapters, classifier checkpoints, images), and
 * the synthetic set as one zip. Keys only select rows; the file is always found by the row's digest, so
 * nothing in a URL ever reaches the file system.
 */
import { Readable } from "node:stream";
import type { FastifyInstance } from "fastify";
import { MAX_ZIP_ENTRIES, writeZip, type ZipSource } from "../archive/zip-writer.js";
import { ArtifactStore } from "../artifact-store.js";
import { ApiError } from "../errors.js";
import { idParams, problemResponses } from "../schemas/common.js";
import { artifactListQuery, artifactPageSchema } from "../schemas/jobs.js";
import type { Artifact } from "../store/index.js";
import type { AppContext } from "./context.js";
import { visibleJob } from "./jobs.js";

/** Metadata the orchestrator stores with each synthetic image. */
export interface SyntheticMeta {
  mediaType: string;
  method: string;
  seed: number;
  shardIndex: number;
  sampleIndex: number;
  label: number;
  className: string;
  sourceIndex: number;
  prompt: string;
  interClass: { sourceLabel: number; strength: number } | null;
}

function mediaTypeOf(artifact: Artifact): string {
  const meta = artifact.meta as { mediaType?: unknown } | null;
  return typeof meta?.mediaType === "string" ? meta.mediaType : "application/octet-stream";
}

/** A file name safe in a Content-Disposition header and in a zip. */
function safeName(text: string): string {
  return text.replace(/[^A-Za-z0-9._=-]+/g, "_").slice(0, 120) || "file";
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

  app.get<{ Params: { id: string; "*": string } }>(
    "/v1/jobs/:id/artifacts/*",
    {
      schema: {
        params: {
          type: "object",
          required: ["id", "*"],
          properties: { id: idParams.properties.id, "*": { type: "string", minLength: 1, maxLength: 512 } },
        },
        response: {
          200: {
            description: "the file (adapter safetensors, classifier checkpoint, PNG …)",
            content: { "application/octet-stream": { schema: { type: "string", format: "binary" } } },
          },
          ...problemResponses,
        },
      },
      config: {
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
      if (!(await artifacts.has(artifact.sha256))) {
        throw new ApiError("internal", "the artifact's file is missing from the store");
      }
      return reply
        .type(mediaTypeOf(artifact))
        .header("content-length", String(artifact.bytes))
        .header("etag", `"${artifact.sha256}"`)
        .header("content-disposition", `attachment; filename="${safeName(key.split("/").pop() ?? key)}"`)
        .send(artifacts.stream(artifact.sha256));
    },
  );

  app.get<{ Params: { id: string }; Querystring: { method?: string; seed?: number } }>(
    "/v1/jobs/:id/synthetic.zip",
    {
      schema: {
        params: idParams,
        querystring: {
          type: "object",
          properties: {
            method: {
              type: "string",
              pattern: "^[a-z0-9][a-z0-9-]{0,39}$",
              description: "only this method's images",
            },
            seed: { type: "integer", minimum: 0, description: "only this seed's images (with method)" },
          },
          additionalProperties: false,
        },
        response: {
          200: {
            description:
              "zip: <method>/seed=<seed>/<class>/<sample>.png for every synthetic image, and manifest.json with labels, source indices, prompts and inter-class strengths",
            content: { "application/zip": { schema: { type: "string", format: "binary" } } },
          },
          ...problemResponses,
        },
      },
      config: {
        scope: "read",
        tag: "artifacts",
        summary: "The synthetic images as a zip archive",
        produces: "application/zip",
      },
    },
    async (request, reply) => {
      const job = await visibleJob(context, request, request.params.id);
      const { method, seed } = request.query;
      if (seed !== undefined && method === undefined) {
        throw new ApiError("validation_failed", "seed filters need a method", {
          errors: [{ field: "/query/method", message: "is required with seed" }],
        });
      }
      const prefix =
        method === undefined
          ? "synthetic/"
          : `synthetic/${method}/${seed === undefined ? "" : `seed=${seed}/`}`;
      // Read the whole listing first: an archive must not fail half-way through the download.
      const rows: Artifact[] = [];
      for (let after: string | undefined; ; ) {
        const page = await store.artifacts.list(job.id, { prefix, afterKey: after, limit: 1000 });
        rows.push(...page);
        if (page.length < 1000) break;
        after = page[page.length - 1].key;
        if (rows.length >= MAX_ZIP_ENTRIES) break;
      }
      if (rows.length + 1 > MAX_ZIP_ENTRIES) {
        throw new ApiError(
          "payload_too_large",
          `more than ${MAX_ZIP_ENTRIES - 1} images; ask per method and seed`,
        );
      }
      const manifest: Record<string, unknown>[] = [];
      async function* sources(): AsyncGenerator<ZipSource> {
        for (const row of rows) {
          const meta = row.meta as SyntheticMeta;
          const name = `${safeName(meta.method)}/seed=${meta.seed}/${safeName(meta.className)}/${String(meta.sampleIndex).padStart(7, "0")}.png`;
          manifest.push({
            file: name,
            sha256: row.sha256,
            method: meta.method,
            seed: meta.seed,
            sampleIndex: meta.sampleIndex,
            label: meta.label,
            className: meta.className,
            sourceIndex: meta.sourceIndex,
            prompt: meta.prompt,
            interClass: meta.interClass,
          });
          ArtifactStore.pathOf(row.sha256); // a malformed digest throws before anything is read
          yield { name, read: () => artifacts.read(row.sha256) };
        }
        yield {
          name: "manifest.json",
          read: async () => Buffer.from(JSON.stringify({ jobId: job.id, images: manifest }, null, 1)),
        };
      }
      const filename = `${job.id}${method ? `-${method}` : ""}${seed !== undefined ? `-seed${seed}` : ""}-synthetic.zip`;
      return reply
        .type("application/zip")
        .header("content-disposition", `attachment; filename="${filename}"`)
        .send(Readable.from(writeZip(sources())));
    },
  );
}
