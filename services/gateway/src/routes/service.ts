/** Service routes: liveness, readiness, Prometheus metrics, the OpenAPI document. No auth. */
import type { FastifyInstance } from "fastify";
import { ApiError } from "../errors.js";
import { buildOpenApi, type RouteEntry } from "../openapi.js";
import { problemResponses, serviceStatusSchema } from "../schemas/common.js";
import { MIGRATIONS } from "../store/index.js";
import type { AppContext } from "./context.js";

/** Options of {@link serviceRoutes}. */
export interface ServiceRoutesOptions {
  context: AppContext;
  routes: readonly RouteEntry[];
  version: string;
}

/** Registers /healthz, /readyz, /metrics and /openapi.json. */
export async function serviceRoutes(
  app: FastifyInstance,
  { context, routes, version }: ServiceRoutesOptions,
): Promise<void> {
  app.get(
    "/healthz",
    {
      schema: { response: { 200: serviceStatusSchema, ...problemResponses } },
      config: {
        operationId: "getHealth",
        tag: "service",
        summary: "Liveness: the process is up",
      },
    },
    async () => ({ status: "ok" as const }),
  );

  app.get(
    "/readyz",
    {
      schema: { response: { 200: serviceStatusSchema, ...problemResponses } },
      config: {
        operationId: "getReadiness",
        tag: "service",
        summary: "Readiness: the store answers, migrations are applied, and the gateway is not draining",
      },
    },
    async () => {
      if (context.lifecycle.draining) throw new ApiError("unavailable", "the gateway is draining");
      let applied: number;
      try {
        const { rows } = await context.store.db.query<{ n: number }>(
          "select count(*) as n from schema_migrations",
        );
        applied = rows[0].n;
      } catch (error) {
        throw new ApiError("unavailable", "the job store does not answer", { cause: error });
      }
      if (applied < MIGRATIONS.length) {
        throw new ApiError("unavailable", `${applied} of ${MIGRATIONS.length} migrations applied`);
      }
      return {
        status: "ready" as const,
        checks: { store: "ok", migrations: `${applied}/${MIGRATIONS.length}`, draining: false },
      };
    },
  );

  app.get(
    "/metrics",
    {
      schema: {
        response: {
          200: {
            description: "Prometheus text exposition format",
            content: { "text/plain": { schema: { type: "string" } } },
          },
          ...problemResponses,
        },
      },
      config: {
        operationId: "getMetrics",
        tag: "service",
        summary: "Prometheus metrics (diffda_ prefix)",
        produces: "text/plain",
      },
    },
    async (_request, reply) => {
      const registry = context.metrics.metrics.registry;
      const body = await registry.metrics();
      return reply.type(registry.contentType).send(body);
    },
  );

  let document: Record<string, unknown> | undefined;
  app.get(
    "/openapi.json",
    {
      schema: {
        response: {
          200: { description: "OpenAPI 3.1 document", type: "object", additionalProperties: true },
          ...problemResponses,
        },
      },
      config: {
        operationId: "getOpenApiDocument",
        tag: "service",
        summary: "This API's OpenAPI 3.1 document",
      },
    },
    async () => {
      document ??= buildOpenApi(routes, { title: "diffda gateway", version });
      return document;
    },
  );
}
