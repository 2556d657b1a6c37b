/** Schemas of the admin routes for API keys. */
import { type JsonSchema, nullableTimestamp, timestamp } from "./common.js";

/** Scopes a key can hold; `admin` implies the others. */
export const SCOPES = ["submit", "read", "admin"] as const;
/** One of {@link SCOPES}. */
export type Scope = (typeof SCOPES)[number];

/** Body of `POST /v1/keys`. */
export const keyRequestSchema = {
  type: "object",
  required: ["name", "scopes"],
  properties: {
    name: { type: "string", minLength: 1, maxLength: 200 },
    scopes: {
      type: "array",
      minItems: 1,
      maxItems: 3,
      uniqueItems: true,
      items: { type: "string", enum: [...SCOPES] },
    },
    rateLimitPerMinute: {
      type: ["integer", "null"],
      minimum: 1,
      maximum: 1_000_000,
      description: "requests per minute (token bucket, burst = one minute's worth); null or absent: no limit",
    },
  },
  additionalProperties: false,
} as const satisfies JsonSchema;

/** An API key as listed (never its secret). */
export const keySchema = {
  type: "object",
  required: ["id", "name", "scopes", "rateLimitPerMinute", "createdAt", "revokedAt"],
  properties: {
    id: { type: "string" },
    name: { type: "string" },
    scopes: { type: "array", items: { type: "string" } },
    rateLimitPerMinute: { type: ["integer", "null"] },
    createdAt: timestamp,
    revokedAt: nullableTimestamp,
  },
  additionalProperties: false,
} as const satisfies JsonSchema;

/** Answer of `POST /v1/keys`: the key and its token, shown this once. */
export const createdKeySchema = {
  type: "object",
  required: ["key", "token"],
  properties: {
    key: keySchema,
    token: { type: "string", description: "`dda_<id>_<secret>`; store it now, it cannot be shown again" },
  },
  additionalProperties: false,
} as const satisfies JsonSchema;
