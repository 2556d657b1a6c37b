/**
 * The OpenAPI 3.1 document, built from the route table fastify registers: the same JSON Schemas that
 * validate requests and serialise responses describe them, so the document cannot drift from the code.
 * A few dozen lines instead of a plugin: routes carry their operationId, summary, tag, scope and
 * non-JSON media type in `config`, and fastify's schema parts map one-to-one onto OpenAPI's. Named
 * schemas (schemas/components.ts) become `$ref`s; the headers the plugins add (Idempotency-Key,
 * RateLimit, Retry-After) are shared components; each operation carries an example recorded from a real
 * run (schemas/examples.json, `npm run openapi:examples`).
 */
import type { RouteOptions } from "fastify";
import { API_ERRORS } from "./errors.js";
import type { JsonSchema } from "./schemas/common.js";
import { COMPONENT_SCHEMAS } from "./schemas/components.js";
import { OPERATION_EXAMPLES, type OperationExample } from "./schemas/examples.js";
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
function openApiPath(url: string): string {
  return url.replace(/:([A-Za-z0-9_]+)/g, "{$1}").replace(/\*$/, "{key}");
}

function parameters(
  schema: JsonSchema | undefined,
  where: "path" | "query" | "header",
  examples: Record<string, unknown> = {},
): JsonSchema[] {
  if (schema === undefined) return [];
  const properties = (schema.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set((schema.required as string[] | undefined) ?? []);
  return Object.entries(properties).map(([name, property]) =>
    where === "header" && name === "idempotency-key"
      ? { $ref: "#/components/parameters/IdempotencyKey" }
      : {
          name,
          in: where,
          required: where === "path" || required.has(name),
          ...(typeof property.description === "string" ? { description: property.description } : {}),
          schema: property,
          ...(examples[name] !== undefined ? { example: examples[name] } : {}),
        },
  );
}

/** Headers every response of a rate-limited key carries, and those of a 429 or 503. */
const RATE_LIMIT_HEADERS = {
  RateLimit: { $ref: "#/components/headers/RateLimit" },
  "RateLimit-Policy": { $ref: "#/components/headers/RateLimitPolicy" },
};
const RETRY_AFTER = { "Retry-After": { $ref: "#/components/headers/RetryAfter" } };

/** The shared parameters and headers the plugins implement. */
const PLUGIN_COMPONENTS = {
  parameters: {
    IdempotencyKey: {
      name: "Idempotency-Key",
      in: "header",
      required: true,
      description:
        "Required on every POST (400 idempotency_key_missing without it). A retry with the same key and payload replays the first answer with Idempotent-Replayed: true; the same key with another payload is 422 idempotency_mismatch. Keys are scoped to the API key and kept 24 h.",
      schema: { type: "string", minLength: 1, maxLength: 255, pattern: "^[\\x21-\\x7e]+$" },
      example: "7d0c2f8e-2b7b-4c53-9b8e-1f3f6c1e9a10",
    },
  },
  headers: {
    RateLimit: {
      description:
        'IETF RateLimit field for keys with a rate limit: remaining requests r and seconds t until the bucket is full, e.g. "per-key";r=59;t=1',
      schema: { type: "string" },
    },
    RateLimitPolicy: {
      description:
        'IETF RateLimit-Policy field: the key\'s quota q per window w seconds, e.g. "per-key";q=60;w=60',
      schema: { type: "string" },
    },
    RetryAfter: { description: "seconds to wait before retrying", schema: { type: "integer", minimum: 1 } },
    IdempotentReplayed: {
      description: "true when this answer is the replay of an earlier request with the same Idempotency-Key",
      schema: { type: "string", enum: ["true"] },
    },
  },
};

/** Named schemas by identity. */
const COMPONENT_NAMES = new Map<object, string>(
  Object.entries(COMPONENT_SCHEMAS).map(([name, schema]) => [schema, name]),
);

/**
 * A deep copy of `value` with every named schema below the top replaced by its `$ref`. A schema that
 * picks a branch with if/then/else (clearer errors than oneOf) also lists the branches as `oneOf`: the
 * same constraint, in the form client generators understand.
 */
function withRefs(value: unknown, names: ReadonlyMap<object, string>, top = true): unknown {
  if (Array.isArray(value)) return value.map((item) => withRefs(item, names, false));
  if (typeof value !== "object" || value === null) return value;
  const name = names.get(value);
  if (name !== undefined && !top) return { $ref: `#/components/schemas/${name}` };
  const copy: Record<string, unknown> = Object.fromEntries(
    Object.entries(value).map(([key, child]) => [key, withRefs(child, names, false)]),
  );
  if (
    copy.if !== undefined &&
    copy.then !== undefined &&
    copy.else !== undefined &&
    copy.oneOf === undefined
  ) {
    copy.oneOf = [copy.then, copy.else];
    // The branches say they are objects; a bare `type` beside them reads as an empty object to generators.
    if (copy.type === "object" && copy.properties === undefined) delete copy.type;
  }
  return copy;
}

function content(part: JsonSchema, fallbackType: string): JsonSchema {
  // A copy: examples are added to it, and the route's own schema must stay as it is.
  if (typeof part.content === "object" && part.content !== null) return { ...(part.content as JsonSchema) };
  // A named schema stays itself (its description describes the schema, and becomes the $ref's sibling).
  if (COMPONENT_NAMES.has(part)) return { [fallbackType]: { schema: part } };
  const { description: _description, ...schema } = part;
  return { [fallbackType]: { schema } };
}
function responses(
  schema: Record<string, JsonSchema>,
  options: { produces?: string; limited: boolean; post: boolean; example?: OperationExample },
): JsonSchema {
  const out: JsonSchema = {};
  for (const [status, part] of Object.entries(schema)) {
    const code = status.replace(/xx$/, "XX");
    const success = status.startsWith("2");
    const description = (part.description as string | undefined) ?? (success ? "Success" : "Error");
    const headers = {
      ...(options.limited && (success || status === "429" || status === "4xx") ? RATE_LIMIT_HEADERS : {}),
      ...(status === "429" || status === "4xx" || status === "503" || status === "5xx" ? RETRY_AFTER : {}),
      ...(options.post && success
        ? { "Idempotent-Replayed": { $ref: "#/components/headers/IdempotentReplayed" } }
        : {}),
      ...(status.startsWith("3")
        ? {
            Location: {
              description: "where the content is (a signed object-store URL)",
              schema: { type: "string" },
            },
          }
        : {}),
    };
    // No body: a 204, and a redirect (its Location header says where the content is).
    const media =
      status === "204" || status.startsWith("3")
        ? undefined
        : content(part, success && options.produces ? options.produces : "application/json");
    const example = options.example;
    if (
      media !== undefined &&
      success &&
      example?.response !== undefined &&
      example.status === Number(status)
    ) {
      const type = Object.keys(media).find((t) => t === example.mediaType) ?? Object.keys(media)[0];
      media[type] = { ...(media[type] as JsonSchema), example: example.response };
    }
    out[code] = {
      description,
      ...(Object.keys(headers).length > 0 ? { headers } : {}),
      ...(media !== undefined ? { content: media } : {}),
    };
  }
  return out;
}

/** Builds the document. */
export function buildOpenApi(
  routes: readonly RouteEntry[],
  info: { title: string; version: string },
): JsonSchema {
  const names = new Map<object, string>(
    Object.entries(COMPONENT_SCHEMAS).map(([name, schema]) => [schema, name]),
  );
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const route of routes) {
    const schema = route.schema as Record<string, JsonSchema | undefined>;
    const config = route.config ?? {};
    const path = openApiPath(route.url);
    if (config.operationId === undefined)
      throw new Error(`route ${route.method} ${route.url} has no operationId`);
    const example = OPERATION_EXAMPLES[config.operationId];
    const wildcard = route.url.endsWith("*")
      ? [
          {
            name: "key",
            in: "path",
            required: true,
            description: "artifact key",
            schema: { type: "string" },
            ...(example?.params?.["*"] !== undefined ? { example: example.params["*"] } : {}),
          },
        ]
      : [];
    const body = schema.body ? content(schema.body, "application/json") : undefined;
    if (body !== undefined && example?.request !== undefined) {
      const type = Object.keys(body).find((t) => t === "application/json") ?? Object.keys(body)[0];
      body[type] = { ...(body[type] as JsonSchema), example: example.request };
    }
    const operation: JsonSchema = {
      operationId: config.operationId,
      ...(config.summary ? { summary: config.summary } : {}),
      ...(config.description ? { description: config.description } : {}),
      tags: [config.tag ?? "service"],
      parameters: [
        ...parameters(schema.params, "path", example?.params).filter((p) => p.name !== "*"),
        ...wildcard,
        ...parameters(schema.querystring, "query", example?.query),
        ...parameters(schema.headers, "header"),
      ],
      ...(body !== undefined ? { requestBody: { required: true, content: body } } : {}),
      responses: responses((schema.response ?? {}) as Record<string, JsonSchema>, {
        produces: config.produces,
        limited: config.scope !== undefined,
        post: route.method === "POST",
        example,
      }),
      security: config.scope === undefined ? [] : [{ bearer: [] }],
      ...(config.scope !== undefined ? { "x-scope": config.scope } : {}),
    };
    paths[path] ??= {};
    paths[path][route.method.toLowerCase()] = withRefs(operation, names, false) as JsonSchema;
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
      schemas: Object.fromEntries(
        Object.entries(COMPONENT_SCHEMAS).map(([name, schema]) => [name, withRefs(schema, names)]),
      ),
      ...PLUGIN_COMPONENTS,
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
