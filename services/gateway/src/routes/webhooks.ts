/** Webhook routes: the caller's signing secret, and the deliveries of a job's webhook. */
import type { FastifyInstance } from "fastify";
import { idempotencyHeaders, idParams, pageOf, problemResponses } from "../schemas/common.js";
import { deliveryListQuery, webhookDeliverySchema, webhookSecretSchema } from "../schemas/webhooks.js";
import type { WebhookDelivery } from "../store/index.js";
import type { AppContext } from "./context.js";
import { visibleJob } from "./jobs.js";

function toDeliveryResource(delivery: WebhookDelivery) {
  return {
    id: delivery.id,
    eventType: delivery.eventType,
    state: delivery.state,
    attempts: delivery.attempts,
    nextAttemptAt: delivery.state === "pending" ? delivery.nextAttemptAt : null,
    lastStatus: delivery.lastStatus,
    lastError: delivery.lastError,
    createdAt: delivery.createdAt,
    deliveredAt: delivery.deliveredAt,
    payload: delivery.payload,
  };
}

/** Registers /v1/webhook-secret and /v1/jobs/:id/webhook-deliveries. */
export async function webhookRoutes(
  app: FastifyInstance,
  { context }: { context: AppContext },
): Promise<void> {
  const { store } = context;

  app.post(
    "/v1/webhook-secret",
    {
      schema: { headers: idempotencyHeaders, response: { 201: webhookSecretSchema, ...problemResponses } },
      config: {
        operationId: "rotateWebhookSecret",
        scope: "submit",
        tag: "webhooks",
        summary: "Create or rotate this key's webhook signing secret; it is shown only in this answer",
        description:
          "Every delivery of this key's jobs is signed with it from now on, retries of older events included. Jobs with a webhook are refused (422 webhook_secret_missing) until the key has one.",
      },
    },
    async (request, reply) => {
      reply.code(201);
      return store.webhookSecrets.rotate(request.principal.id);
    },
  );

  app.get<{ Params: { id: string }; Querystring: { limit?: number; cursor?: string } }>(
    "/v1/jobs/:id/webhook-deliveries",
    {
      schema: {
        params: idParams,
        querystring: deliveryListQuery,
        response: { 200: pageOf(webhookDeliverySchema), ...problemResponses },
      },
      config: {
        operationId: "listWebhookDeliveries",
        scope: "read",
        tag: "webhooks",
        summary:
          "Deliveries of a job's webhook, newest first, cursor-paginated: state, attempts, last answer",
      },
    },
    async (request) => {
      const job = await visibleJob(context, request, request.params.id);
      const page = await store.webhooks.listForJob(job.id, {
        limit: request.query.limit,
        cursor: request.query.cursor,
      });
      return { items: page.items.map(toDeliveryResource), nextCursor: page.nextCursor };
    },
  );
}
