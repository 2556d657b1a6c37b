/**
 * JSON Schemas shared by the routes: the problem document, ids, pagination, timestamps. Route schemas
 * inline these (no `$ref` to shared ids), so each route's schema is complete on its own and the OpenAPI
 * document can be built from the route table without a resolver.
 */
import { API_ERRORS, PROBLEM_CONTENT_TYPE } from "../errors.js";

/** A JSON Schema object (loosely typed: fastify and the OpenAPI generator only read it). */
export type JsonSchema = Record<string, unknown>;

/** The problem+json document every error response carries. */
export const problemSchema = {
  type: "object",
  description: "An RFC 9457 problem; `code` is stable (see the error catalog)",
  required: ["type", "title", "status", "detail", "code"],
  properties: {
    type: { type: "string", description: "urn:diffda:problem:<code>" },
    title: { type: "string" },
    status: { type: "integer", minimum: 400, maximum: 599 },
    detail: { type: "string" },
    code: { type: "string", enum: Object.keys(API_ERRORS) },
    instance: { type: "string", description: "the request path" },
    errors: {
      type: "array",
      items: {
        type: "object",
        required: ["field", "message"],
        properties: {
          field: {
            type: "string",
            description: "JSON Pointer prefixed by the request part, e.g. /body/seeds/0",
          },
          message: { type: "string" },
        },
        additionalProperties: false,
      },
    },
  },
  additionalProperties: false,
} as const satisfies JsonSchema;

const problemContent = { [PROBLEM_CONTENT_TYPE]: { schema: problemSchema } };

/** Response entries for every error status, to spread into a route's `response`. */
export const problemResponses = {
  "4xx": { description: "The request was refused (see the error catalog)", content: problemContent },
  "5xx": { description: "The gateway or a service behind it failed", content: problemContent },
} as const;

/** A 204 answer: no body. */
export const noContent = { type: "null", description: "Deleted" } as const;

/** A uuid path or body field. */
export const uuidSchema = {
  type: "string",
  format: "uuid",
  pattern: "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
} as const;

/** `:id` path parameters. */
export const idParams = {
  type: "object",
  required: ["id"],
  properties: { id: { type: "string", maxLength: 64, description: "a uuid" } },
  additionalProperties: false,
} as const;

/** An ISO 8601 timestamp. */
export const timestamp = { type: "string", format: "date-time" } as const;
/** An ISO 8601 timestamp or null. */
export const nullableTimestamp = { type: ["string", "null"], format: "date-time" } as const;

/** `?limit=&cursor=` of keyset-paginated lists. */
export const pageQuery = {
  limit: { type: "integer", minimum: 1, maximum: 100, default: 20, description: "page size" },
  cursor: { type: "string", maxLength: 512, description: "`nextCursor` of the previous page (opaque)" },
} as const;

/** A page wrapper around `items`. */
export function pageOf(item: JsonSchema): JsonSchema {
  return {
    type: "object",
    required: ["items", "nextCursor"],
    properties: {
      items: { type: "array", items: item },
      nextCursor: {
        type: ["string", "null"],
        description: "pass as `cursor` for the next page; null at the end",
      },
    },
    additionalProperties: false,
  };
}

/**
 * The Idempotency-Key header every POST requires (the idempotency plugin enforces it, with its own
 * `idempotency_key_missing` answer, before this schema is checked; docs/api.md says why it is required).
 */
export const idempotencyHeaders = {
  type: "object",
  required: ["idempotency-key"],
  properties: {
    "idempotency-key": {
      type: "string",
      minLength: 1,
      maxLength: 255,
      pattern: "^[\\x21-\\x7e]+$",
      description:
        "a client-chosen unique key (1–255 visible ASCII characters), required on every POST; a retry with the same key and payload replays the first answer (Idempotent-Replayed: true)",
    },
  },
} as const;

/** `/healthz` and `/readyz`. */
export const serviceStatusSchema = {
  type: "object",
  required: ["status"],
  properties: {
    status: { type: "string", enum: ["ok", "ready"] },
    checks: {
      type: "object",
      properties: {
        store: { type: "string" },
        migrations: { type: "string" },
        draining: { type: "boolean" },
      },
      additionalProperties: false,
    },
  },
  additionalProperties: false,
};
