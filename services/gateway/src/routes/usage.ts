/** `GET /v1/usage`: what the calling key holds in the artifact store. */
import type { FastifyInstance } from "fastify";
import { problemResponses } from "../schemas/common.js";
import { usageSchema } from "../schemas/usage.js";
import type { AppContext } from "./context.js";

/** Registers /v1/usage. */
export async function usageRoutes(app: FastifyInstance, { context }: { context: AppContext }): Promise<void> {
  app.get(
    "/v1/usage",
    {
      schema: { response: { 200: usageSchema, ...problemResponses } },
      config: {
        operationId: "getUsage",
        scope: "read",
        tag: "usage",
        summary: "Datasets, jobs and the bytes they hold, for the calling key",
      },
    },
    async (request) => {
      const { apiKeyId } = request.principal;
      const all = apiKeyId === null && request.principal.admin;
      const usage = await context.store.blobs.usage(all ? undefined : apiKeyId);
      return { scope: all ? "all" : "key", ...usage };
    },
  );
}
