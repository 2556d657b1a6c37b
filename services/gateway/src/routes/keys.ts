/** Admin routes: create, list and revoke API keys. */
import type { FastifyInstance } from "fastify";
import { ApiError } from "../errors.js";
import { idempotencyHeaders, idParams, problemResponses } from "../schemas/common.js";
import { createdKeySchema, keyRequestSchema, keySchema } from "../schemas/keys.js";
import type { ApiKey } from "../store/index.js";
import type { AppContext } from "./context.js";

interface KeyRequest {
  name: string;
  scopes: string[];
  rateLimitPerMinute?: number | null;
}

/** Registers /v1/keys. */
export async function keyRoutes(app: FastifyInstance, { context }: { context: AppContext }): Promise<void> {
  const keys = context.store.apiKeys;

  app.post<{ Body: KeyRequest }>(
    "/v1/keys",
    {
      schema: {
        headers: idempotencyHeaders,
        body: keyRequestSchema,
        response: { 201: createdKeySchema, ...problemResponses },
      },
      config: {
        operationId: "createApiKey",
        scope: "admin",
        tag: "keys",
        summary: "Create an API key; its token is shown only in this answer",
      },
    },
    async (request, reply) => {
      const { apiKey, token } = await keys.create({
        name: request.body.name,
        scopes: request.body.scopes,
        rateLimitPerMinute: request.body.rateLimitPerMinute ?? null,
      });
      reply.code(201).header("location", `/v1/keys/${apiKey.id}`);
      return { key: apiKey, token };
    },
  );

  app.get(
    "/v1/keys",
    {
      schema: {
        response: {
          200: {
            type: "object",
            required: ["items"],
            properties: { items: { type: "array", items: keySchema } },
            additionalProperties: false,
          },
          ...problemResponses,
        },
      },
      config: {
        operationId: "listApiKeys",
        scope: "admin",
        tag: "keys",
        summary: "List API keys, revoked ones included (never their secrets)",
      },
    },
    async () => ({ items: await keys.list() }),
  );

  app.post<{ Params: { id: string } }>(
    "/v1/keys/:id/revoke",
    {
      schema: {
        headers: idempotencyHeaders,
        params: idParams,
        response: { 200: keySchema, ...problemResponses },
      },
      config: {
        operationId: "revokeApiKey",
        scope: "admin",
        tag: "keys",
        summary: "Revoke an API key at once (kept for audit)",
      },
    },
    async (request): Promise<ApiKey> => {
      await keys.revoke(request.params.id);
      const key = await keys.get(request.params.id);
      if (key === undefined) throw new ApiError("not_found", `no API key ${request.params.id}`);
      return key;
    },
  );
}
