/**
 * Adapter routes. `POST /v1/adapters` takes one LoRA (PEFT / diffusers or kohya keys) or textual-inversion
 * (diffusers `learned_embeds`, A1111 `emb_params` / `string_to_param`) safetensors file as
 * `application/octet-stream`, options in the query string. It is checked twice before it is kept: its
 * header here, then against the model it names by a generation replica (CheckAdapters: every module and
 * embedding must resolve with the shape merging needs). Jobs apply it by id instead of fine-tuning.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import { inspectAdapter, refuseAdapter } from "../adapters/inspect.js";
import { adapterKindOf } from "../adapters/kind.js";
import { ApiError } from "../errors.js";
import { freeQuietly } from "../lifecycle/free-quietly.js";
import { canSee } from "../plugins/auth.js";
import { adapterListQuery, adapterSchema, adapterUploadQuery } from "../schemas/adapters.js";
import { idempotencyHeaders, idParams, noContent, pageOf, problemResponses } from "../schemas/common.js";
import type { Adapter } from "../store/index.js";
import type { AppContext } from "./context.js";

/** The only media type of an adapter upload. */
const ADAPTER_MEDIA_TYPE = "application/octet-stream";

/** The API's view of an adapter row. */
function toAdapterResource(adapter: Adapter) {
  return {
    id: adapter.id,
    name: adapter.name,
    kind: adapter.kind,
    model: adapter.baseModel,
    sha256: adapter.sha256,
    bytes: adapter.bytes,
    tokens: adapter.tokens,
    rank: adapter.loraRank,
    alpha: adapter.loraAlpha,
    sourceJobId: adapter.sourceJobId,
    createdAt: adapter.createdAt,
  };
}

interface UploadQuery {
  name: string;
  kind: Adapter["kind"];
  model: string;
  tokens?: string;
  rank?: number;
  alpha?: number;
}

/** Registers /v1/adapters. */
export async function adapterRoutes(
  app: FastifyInstance,
  { context }: { context: AppContext },
): Promise<void> {
  const { limits } = context;
  app.addContentTypeParser(
    ADAPTER_MEDIA_TYPE,
    { parseAs: "buffer", bodyLimit: limits.adapterBodyBytes },
    (_request, body, done) => done(null, body),
  );

  app.post<{ Body: Buffer; Querystring: UploadQuery }>(
    "/v1/adapters",
    {
      bodyLimit: limits.adapterBodyBytes,
      schema: {
        headers: idempotencyHeaders,
        querystring: adapterUploadQuery,
        body: {
          content: {
            [ADAPTER_MEDIA_TYPE]: {
              schema: {
                contentMediaType: ADAPTER_MEDIA_TYPE,
                description: "the adapter's .safetensors file",
              },
            },
          },
        },
        response: { 201: adapterSchema, ...problemResponses },
      },
      config: {
        operationId: "createAdapter",
        scope: "submit",
        tag: "adapters",
        summary: "Upload a LoRA or textual-inversion safetensors file, checked against the model it names",
        description:
          "The header is checked here (length, JSON, dtypes, offsets within the file), then a generation replica resolves every LoRA module and embedding against the model's UNet and text encoder with the shapes merging needs. A refused file (422 `invalid_adapter`, naming the first bad key) is not kept. 503 when no replica answers.",
      },
    },
    async (request, reply) => {
      const { name, kind, model, rank, alpha } = request.query;
      const body = request.body;
      if (!Buffer.isBuffer(body)) {
        throw new ApiError("unsupported_media_type", `send the file as ${ADAPTER_MEDIA_TYPE}`);
      }
      const tokens = request.query.tokens?.split(",");
      const inspected = inspectAdapter(body, kind, tokens);
      if (context.models === undefined)
        throw new ApiError("unavailable", "this gateway has no generation replicas to check adapters");
      const content = new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
      let refusal: Awaited<ReturnType<NonNullable<AppContext["models"]>["checkAdapters"]>>;
      try {
        refusal = await context.models.checkAdapters({
          baseModel: { name: model },
          adapters: [
            {
              kind: adapterKindOf({ kind }),
              file: { name: "adapter.safetensors", mediaType: "application/vnd.safetensors", content },
              tokens: [...inspected.tokens],
              loraRank: rank ?? 0,
              loraAlpha: alpha ?? 0,
            },
          ],
        });
      } catch {
        throw new ApiError("unavailable", "no generation replica answered CheckAdapters");
      }
      if (refusal?.code === "model_not_found") {
        throw new ApiError("invalid_adapter", `no generation replica serves model "${model}"`, {
          errors: [{ field: "/query/model", message: `no replica serves "${model}"` }],
        });
      }
      if (refusal !== undefined) {
        // The replica's message starts with its own field path; the caller knows the file as the body.
        const detail = refusal.message.replace(/^model\.adapters\[0\]\.(file\.content|tokens|kind): /, "");
        throw refuseAdapter(detail, refusal.details.key);
      }
      const blob = await context.artifacts.put(content);
      const adapter = await context.store.adapters.create({
        apiKeyId: request.principal.apiKeyId,
        name,
        kind,
        baseModel: model,
        sha256: blob.sha256,
        bytes: blob.bytes,
        tokens: inspected.tokens,
        loraRank: rank ?? 0,
        loraAlpha: alpha ?? 0,
      });
      reply.code(201).header("location", `/v1/adapters/${adapter.id}`);
      return toAdapterResource(adapter);
    },
  );

  /** The adapter `id` if the caller may see it (its own; an admin sees all), else 404 as if it did not exist. */
  const visibleAdapter = async (request: FastifyRequest, id: string): Promise<Adapter> => {
    const adapter = await context.store.adapters.get(id);
    if (adapter === undefined || !canSee(request.principal, adapter.apiKeyId)) {
      throw new ApiError("not_found", `no adapter ${id}`);
    }
    return adapter;
  };

  app.get<{ Params: { id: string } }>(
    "/v1/adapters/:id",
    {
      schema: { params: idParams, response: { 200: adapterSchema, ...problemResponses } },
      config: { operationId: "getAdapter", scope: "read", tag: "adapters", summary: "One adapter" },
    },
    async (request) => toAdapterResource(await visibleAdapter(request, request.params.id)),
  );

  app.get<{ Querystring: { limit?: number; cursor?: string } }>(
    "/v1/adapters",
    {
      schema: {
        querystring: adapterListQuery,
        response: { 200: pageOf(adapterSchema), ...problemResponses },
      },
      config: {
        operationId: "listAdapters",
        scope: "read",
        tag: "adapters",
        summary: "This key's adapters (every key's for an admin), newest first",
      },
    },
    async (request) => {
      const page = await context.store.adapters.list({
        limit: request.query.limit,
        cursor: request.query.cursor,
        ...(request.principal.admin ? {} : { apiKeyId: request.principal.apiKeyId ?? undefined }),
      });
      return { items: page.items.map(toAdapterResource), nextCursor: page.nextCursor };
    },
  );

  app.delete<{ Params: { id: string } }>(
    "/v1/adapters/:id",
    {
      schema: { params: idParams, response: { 204: noContent, ...problemResponses } },
      config: {
        operationId: "deleteAdapter",
        scope: "submit",
        tag: "adapters",
        summary: "Delete an adapter and free its file (409 while a queued or running job applies it)",
        description:
          "Finished jobs keep their results. The bytes are freed at once unless identical content was written within ARTIFACT_GC_GRACE_MS or is held by another resource.",
      },
    },
    async (request, reply) => {
      const adapter = await visibleAdapter(request, request.params.id);
      const outcome = await context.store.adapters.delete(adapter.id);
      if (outcome.outcome === "not_found") throw new ApiError("not_found", `no adapter ${adapter.id}`);
      if (outcome.outcome === "in_use") {
        throw new ApiError("adapter_in_use", `jobs still applying it: ${outcome.jobIds.join(", ")}`);
      }
      await freeQuietly(context, request, [outcome.sha256]);
      return reply.code(204).send();
    },
  );
}
