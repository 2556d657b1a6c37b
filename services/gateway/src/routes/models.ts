/** `GET /v1/models`: the models the deployment serves, with their cards and digests. */
import type { FastifyInstance } from "fastify";
import { ApiError } from "../errors.js";
import { problemResponses } from "../schemas/common.js";
import { modelListSchema } from "../schemas/models.js";
import type { AppContext } from "./context.js";

/** Registers /v1/models. */
export async function modelRoutes(app: FastifyInstance, { context }: { context: AppContext }): Promise<void> {
  app.get(
    "/v1/models",
    {
      schema: {
        querystring: { type: "object", properties: {}, additionalProperties: false },
        response: { 200: modelListSchema, ...problemResponses },
      },
      config: {
        operationId: "listModels",
        scope: "read",
        tag: "models",
        summary: "The models the generation replicas serve: id, folder digest, native size, model card",
      },
    },
    async () => {
      if (context.models === undefined)
        throw new ApiError("unavailable", "this gateway has no generation replicas");
      try {
        return { items: await context.models.list() };
      } catch {
        throw new ApiError("unavailable", "no generation replica answered ListModels");
      }
    },
  );
}
