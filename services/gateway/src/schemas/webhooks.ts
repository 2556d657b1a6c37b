/** Schemas of the webhook routes: the signing secret and a job's deliveries. */
import { WEBHOOK_EVENTS } from "../store/webhooks.js";
import { type JsonSchema, nullableTimestamp, pageQuery, timestamp } from "./common.js";

/** Answer of `POST /v1/webhook-secret`: the secret, shown this once. */
export const webhookSecretSchema = {
  type: "object",
  required: ["secret", "createdAt"],
  properties: {
    secret: {
      type: "string",
      description:
        "whsec_<base64>: the HMAC-SHA256 key is the base64-decoded part; signs every delivery of this key's jobs from now on",
    },
    createdAt: timestamp,
  },
  additionalProperties: false,
} as const satisfies JsonSchema;

/** One delivery of a job's webhook. */
export const webhookDeliverySchema = {
  type: "object",
  required: [
    "id",
    "eventType",
    "state",
    "attempts",
    "nextAttemptAt",
    "lastStatus",
    "lastError",
    "createdAt",
    "deliveredAt",
    "payload",
  ],
  properties: {
    id: { type: "string", description: "msg_…, sent as webhook-id on every attempt" },
    eventType: { type: "string", enum: [...WEBHOOK_EVENTS] },
    state: { type: "string", enum: ["pending", "delivering", "succeeded", "failed"] },
    attempts: { type: "integer", description: "attempts made so far, one in progress included" },
    nextAttemptAt: { ...nullableTimestamp, description: "when a pending delivery is tried next" },
    lastStatus: {
      type: ["integer", "null"],
      description: "HTTP status of the last attempt; null: none yet, or no answer",
    },
    lastError: { type: ["string", "null"] },
    createdAt: timestamp,
    deliveredAt: nullableTimestamp,
    payload: {
      type: "object",
      required: ["type", "timestamp", "data"],
      properties: {
        type: { type: "string" },
        timestamp: timestamp,
        data: { type: "object", additionalProperties: true },
      },
      additionalProperties: false,
      description: "the body sent",
    },
  },
  additionalProperties: false,
} as const satisfies JsonSchema;

/** Query of `GET /v1/jobs/:id/webhook-deliveries`. */
export const deliveryListQuery = {
  type: "object",
  properties: { ...pageQuery },
  additionalProperties: false,
} as const satisfies JsonSchema;
