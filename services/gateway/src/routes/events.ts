/**
 * `GET /v1/jobs/:id/events`: the job's event log as Server-Sent Events. Every event carries its store id
 * as the SSE `id:`, so a client that reconnects with `Last-Event-ID` (browsers do it by themselves)
 * continues exactly after the last event it saw. The stream polls the store (the source of truth
 * across gateway replicas: the event may have been written by any of them), sends a comment line when
 * idle so proxies keep the connection, and ends once the job is final and its last event was sent.
 */
import type { ServerResponse } from "node:http";
import type { FastifyInstance } from "fastify";
import { ApiError } from "../errors.js";
import { idParams, problemResponses } from "../schemas/common.js";
import type { JobEvent, JobState } from "../store/index.js";
import type { AppContext } from "./context.js";
import { visibleJob } from "./jobs.js";

const FINAL: ReadonlySet<JobState> = new Set(["succeeded", "failed", "cancelled"]);
const BATCH = 500;

/** One event in the SSE wire format. */
function formatEvent(event: JobEvent): string {
  const data = JSON.stringify({
    id: event.id,
    type: event.type,
    createdAt: event.createdAt,
    data: event.data,
  });
  return `id: ${event.id}\nevent: ${event.type}\ndata: ${data}\n\n`;
}

function parseLastEventId(value: string | undefined): number {
  if (value === undefined || value === "") return 0;
  if (!/^\d{1,15}$/.test(value)) {
    throw new ApiError("validation_failed", "Last-Event-ID must be an event id", {
      errors: [{ field: "/headers/last-event-id", message: "must be a non-negative integer" }],
    });
  }
  return Number(value);
}

/** Registers the event stream route. */
export async function eventRoutes(app: FastifyInstance, { context }: { context: AppContext }): Promise<void> {
  const { store, limits } = context;
  // Open streams never go idle, so closing the server would wait for them: end them first.
  let closing = false;
  const sleepers = new Set<() => void>();
  app.addHook("preClose", async () => {
    closing = true;
    for (const wake of sleepers) wake();
  });
  app.get<{
    Params: { id: string };
    Querystring: { lastEventId?: string };
    Headers: { "last-event-id"?: string };
  }>(
    "/v1/jobs/:id/events",
    {
      schema: {
        params: idParams,
        headers: {
          type: "object",
          properties: {
            "last-event-id": { type: "string", maxLength: 20, description: "resume after this event id" },
          },
        },
        querystring: {
          type: "object",
          properties: {
            lastEventId: {
              type: "string",
              maxLength: 20,
              description: "as Last-Event-ID, for clients that cannot set headers",
            },
          },
          additionalProperties: false,
        },
        response: {
          200: {
            description:
              "text/event-stream: `id:` (event id), `event:` (type), `data:` JSON {id, type, createdAt, data}; `: keep-alive` comments when idle; ends when the job is final",
            content: { "text/event-stream": { schema: { type: "string" } } },
          },
          ...problemResponses,
        },
      },
      config: {
        operationId: "streamJobEvents",
        scope: "read",
        tag: "jobs",
        summary: "Job progress as Server-Sent Events, resumable with Last-Event-ID",
        produces: "text/event-stream",
      },
    },
    async (request, reply) => {
      const job = await visibleJob(context, request, request.params.id);
      let last = parseLastEventId(request.headers["last-event-id"] ?? request.query.lastEventId);
      reply.hijack();
      const raw: ServerResponse = reply.raw;
      raw.writeHead(200, {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-cache, no-transform",
        connection: "keep-alive",
        "x-accel-buffering": "no",
      });
      raw.write("retry: 2000\n\n");
      let closed = false;
      let wake: (() => void) | undefined;
      raw.on("close", () => {
        closed = true;
        wake?.();
      });
      let lastWrite = Date.now();
      try {
        while (!closed && !closing) {
          // The state is read before the events: if it is final now, its final event is already stored.
          const state = (await store.jobs.get(job.id))?.state ?? "cancelled";
          const events = await store.events.since(job.id, last, BATCH);
          for (const event of events) {
            raw.write(formatEvent(event));
            last = event.id;
          }
          if (events.length > 0) lastWrite = Date.now();
          if (events.length === BATCH) continue;
          if (FINAL.has(state)) break;
          if (Date.now() - lastWrite >= limits.sseHeartbeatMs) {
            raw.write(": keep-alive\n\n");
            lastWrite = Date.now();
          }
          await new Promise<void>((resolve) => {
            const timer = setTimeout(done, limits.ssePollMs);
            function done() {
              clearTimeout(timer);
              sleepers.delete(done);
              resolve();
            }
            wake = done;
            sleepers.add(done);
          });
        }
      } catch (error) {
        // The store failed mid-stream: end it; the client resumes with Last-Event-ID.
        request.log.warn({ err: error }, "event stream ended by a store error");
      }
      if (!raw.writableEnded) raw.end();
    },
  );
}
