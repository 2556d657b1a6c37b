/** `GET /v1/usage`: what the calling key holds in the artifact store. */
import type { FastifyInstance } from "fastify";
import { problemResponses } from "../schemas/common.js";
import type { AppContext } from "./context.js";

const countAndBytes = {
  type: "object",
  required: ["count", "bytes"],
  properties: { count: { type: "integer", minimum: 0 }, bytes: { type: "integer", minimum: 0 } },
  additionalProperties: false,
} as const;

/** The response of `GET /v1/usage`. */
export const usageSchema = {
  type: "object",
  required: ["scope", "datasets", "jobs", "distinctBytes"],
  properties: {
    scope: { type: "string", enum: ["key", "all"], description: "`all` for the local admin without a key" },
    datasets: {
      ...countAndBytes,
      description: "uploaded datasets and the bytes of their images and manifests",
    },
    jobs: { ...countAndBytes, description: "jobs and the bytes of their artifacts" },
    distinctBytes: {
      type: "integer",
      minimum: 0,
      description: "bytes of the distinct blobs behind both (identical content is stored once)",
    },
  },
  additionalProperties: false,
} as const;

/** Registers /v1/usage. */
export async function usageRoutes(app: FastifyInstance, { context }: { context: AppContext }): Promise<void> {
  app.get(
    "/v1/usage",
    {
      schema: { response: { 200: usageSchema, ...problemResponses } },
      config: {
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
