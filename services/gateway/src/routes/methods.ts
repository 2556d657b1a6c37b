/** `GET /v1/methods`: the presets (seven DiffDA methods and two baselines) with their components. */
import type { FastifyInstance } from "fastify";
import { PRESETS } from "../presets.js";
import { problemResponses } from "../schemas/common.js";
import { presetSchema } from "../schemas/methods.js";

/** Registers the route. */
export async function methodRoutes(app: FastifyInstance): Promise<void> {
  app.get(
    "/v1/methods",
    {
      schema: {
        response: {
          200: {
            type: "object",
            required: ["items"],
            properties: { items: { type: "array", items: presetSchema } },
            additionalProperties: false,
          },
          ...problemResponses,
        },
      },
      config: {
        operationId: "listMethods",
        scope: "read",
        tag: "methods",
        summary:
          "The method presets: fine-tuning, generation and utilization choices with the paper's defaults",
      },
    },
    async () => ({ items: PRESETS }),
  );
}
