/**
 * Follows a job's event stream (`GET /v1/jobs/{id}/events`) until the job's final event: every event is
 * delivered once and in order; when the connection drops or the gateway restarts, it reconnects with
 * `Last-Event-ID` (after the server's `retry:` delay) and continues exactly after the last event seen.
 */
import { getJob } from "./api.js";
import { ApiError, type RestClient } from "./rest-client.js";
import { createSseParser } from "./sse.js";
import { isFinalState, type JobEvent } from "./types.js";

/** Event types that end a job (and its stream). */
export const FINAL_EVENT_TYPES: ReadonlySet<string> = new Set([
  "job.succeeded",
  "job.failed",
  "job.cancelled",
]);

/** Options of {@link followJobEvents}. */
export interface FollowOptions {
  /** Called with each event in order. */
  readonly onEvent: (event: JobEvent) => void | Promise<void>;
  /** Resume after this event id (0 or unset: from the start). */
  readonly lastEventId?: number;
  /** Stops following (the promise rejects with the reason). */
  readonly signal?: AbortSignal;
  /** Delay before a reconnect when the server named none (default 1000 ms). */
  readonly reconnectDelayMs?: number;
  /** Called before each reconnect. */
  readonly onReconnect?: (info: { lastEventId: number; reason: string }) => void;
}

/** How the stream ended. */
export interface FollowOutcome {
  /** The final event's type (`job.succeeded` …). */
  readonly finalType: string;
  /** The last event id delivered. */
  readonly lastEventId: number;
  /** Connections opened (1 without reconnects). */
  readonly connections: number;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });

/** Follows job `jobId`'s events until its final one. */
export async function followJobEvents(
  client: RestClient,
  jobId: string,
  options: FollowOptions,
): Promise<FollowOutcome> {
  let last = options.lastEventId ?? 0;
  let delay = options.reconnectDelayMs ?? 1000;
  let connections = 0;
  for (;;) {
    options.signal?.throwIfAborted();
    connections++;
    let reason = "the stream ended";
    let received = 0;
    try {
      const response = await client.send({
        method: "GET",
        path: `/v1/jobs/${encodeURIComponent(jobId)}/events`,
        headers: { accept: "text/event-stream", ...(last > 0 ? { "last-event-id": String(last) } : {}) },
        signal: options.signal,
      });
      if (response.body === null) throw new Error("the event stream has no body");
      const parser = createSseParser(last > 0 ? String(last) : undefined);
      const decoder = new TextDecoder();
      for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
        for (const frame of parser.push(decoder.decode(chunk, { stream: true }))) {
          const event = JSON.parse(frame.data) as JobEvent;
          if (event.id <= last) continue; // a replay after a reconnect: already delivered
          last = event.id;
          received++;
          await options.onEvent(event);
          if (FINAL_EVENT_TYPES.has(event.type)) {
            await response.body.cancel().catch(() => {});
            return { finalType: event.type, lastEventId: last, connections };
          }
        }
      }
      if (parser.retryMs !== undefined) delay = parser.retryMs;
    } catch (error) {
      if (options.signal?.aborted) throw options.signal.reason ?? error;
      // The gateway answered with a problem (404, 401 …): reconnecting will not help.
      if (error instanceof ApiError && error.status > 0 && error.status < 500) throw error;
      reason = (error as Error).message ?? String(error);
    }
    // The stream ended without the job's final event: either it dropped, or the job is final and its
    // final event is not after `last` (a resumed watch of a finished job). Ask which.
    const job = await getJob(client, jobId);
    if (isFinalState(job.state) && reason === "the stream ended" && received === 0) {
      return { finalType: `job.${job.state}`, lastEventId: last, connections };
    }
    options.onReconnect?.({ lastEventId: last, reason });
    await sleep(delay, options.signal);
  }
}
