/**
 * The OpenAPI 3.1 document, built from the route table fastify registers: the same JSON Schemas that
 * validate requests and serialise responses describe them, so the document cannot drift from the code.
 * A few dozen lines instead of a plugin: routes carry their summary, tag, scope and non-JSON media type
 * in `config`, and fastify's schema parts map one-to-one onto OpenAPI's.
 */
import type { RouteOptions } from "fastify";
import { API_ERRORS } from "./errors.js";
import type { JsonSchema } from "./schemas/common.js";
import "./plugins/route-config.js";

/** What the generator keeps of a registered route. */
export interface RouteEntry {
  method: string;
  url: string;
  schema: Record<string, unknown>;
  config: RouteOptions["config"];
}

/** Collects routes as fastify registers them (pass to `app.addHook("onRoute", …)`). */
export function collectRoutes(into: RouteEntry[]): (route: RouteOptions) => void {
  return (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) {
      if (method === "HEAD" || route.schema === undefined) continue;
      into.push({
        method,
        url: route.url,
        schema: route.schema as Record<string, unknown>,
        config: route.config,
      });
    }
  };
}

/** `/v1/jobs/:id/artifacts/*` → `/v1/jobs/{id}/artifacts/{key}`. */
export function openApiPath(url: string): string {
  return url.replace(/:([A-Za-z0-9_]+)/g, "{$1}").replace(/\*$/, "{key}");
}

function parameters(schema: JsonSchema | undefined, where: "path" | "query" | "header"): JsonSchema[] {
  if (schema === undefined) return [];
  const properties = (schema.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set((schema.required as string[] | undefined) ?? []);
  return Object.entries(properties).map(([name, property]) => ({
    name,
    in: where,
    required: where === "path" || required.has(name),
    ...(typeof property.description === "string" ? { description: property.description } : {}),
    schema: property,
  }));
}

function content(part: JsonSchema, fallbackType: string): JsonSchema {
  if (typeof part.content === "object" && part.content !== null) return part.content as JsonSchema;
  const { description: _description, ...schema } = part;
  return { [fallbackType]: { schema } };
}

function responses(schema: Record<string, JsonSchema>, produces: string | undefined): JsonSchema {
  const out: JsonSchema = {};
  for (const [status, part] of Object.entries(schema)) {
    const code = status.replace(/xx$/, "XX");
    const description =
      (part.description as string | undefined) ?? (status.startsWith("2") ? "Success" : "Error");
    out[code] =
      status === "204" || status.startsWith("3")
        ? { description }
        : {
            description,
            content: content(part, status.startsWith("2") && produces ? produces : "application/json"),
          };
  }
  return out;
}

/** Builds the document. */
export function buildOpenApi(
  routes: readonly RouteEntry[],
  info: { title: string; version: string },
): JsonSchema {
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const route of routes) {
    const schema = route.schema as Record<string, JsonSchema | undefined>;
    const config = route.config ?? {};
    const path = openApiPath(route.url);
    const wildcard = route.url.endsWith("*")
      ? [{ name: "key", in: "path", required: true, description: "artifact key", schema: { type: "string" } }]
      : [];
    const operation: JsonSchema = {
      operationId: `${route.method.toLowerCase()}${path.replace(/[{}]/g, "").replace(/[^A-Za-z0-9]+(.)?/g, (_, c: string | undefined) => (c ?? "").toUpperCase())}`,
      ...(config.summary ? { summary: config.summary } : {}),
      ...(config.description ? { description: config.description } : {}),
      tags: [config.tag ?? "service"],
      parameters: [
        ...parameters(schema.params, "path").filter((p) => p.name !== "*"),
        ...wildcard,
        ...parameters(schema.querystring, "query"),
        ...parameters(schema.headers, "header"),
      ],
      ...(schema.body
        ? { requestBody: { required: true, content: content(schema.body, "application/json") } }
        : {}),
      responses: responses((schema.response ?? {}) as Record<string, JsonSchema>, config.produces),
      security: config.scope === undefined ? [] : [{ bearer: [] }],
      ...(config.scope !== undefined ? { "x-scope": config.scope } : {}),
    };
    paths[path] ??= {};
    paths[path][route.method.toLowerCase()] = operation;
  }
  return {
    openapi: "3.1.0",
    info: {
      ...info,
      description:
        "diffda: diffusion-based data augmentation as a service. Errors are application/problem+json with a stable `code`; see x-error-catalog.",
    },
    jsonSchemaDialect: "https://json-schema.org/draft/2020-12/schema",
    paths,
    components: {
      securitySchemes: {
        bearer: {
          type: "http",
          scheme: "bearer",
          description: "API key `dda_<id>_<secret>`; scopes submit, read, admin",
        },
      },
    },
    "x-error-catalog": Object.fromEntries(
      Object.entries(API_ERRORS).map(([code, entry]) => [
        code,
        { status: entry.status, title: entry.title, description: entry.description },
      ]),
    ),
  };
}
