/**
 * How long the HTTP server waits for a client, and how many dataset uploads it receives at once. A client
 * that stops sending must not hold a socket and a growing buffer forever: Node's `headersTimeout` bounds
 * the headers, its `requestTimeout` the whole request, fastify's `connectionTimeout` an idle socket, and
 * the body-idle timeout (plugins/body-timeout.ts) a body that stops arriving; the upload cap
 * (plugins/upload-slots.ts) bounds what stalled uploads can hold together.
 */
import type { ServerOptions } from "node:http";
import type { FastifyServerOptions } from "fastify";
import { clientErrorHandler, frameworkErrors } from "./plugins/http-errors.js";

/** Timeouts and the upload cap (from configuration: the `HTTP_*` and `UPLOAD_MAX_IN_FLIGHT` variables). */
export interface HttpLimits {
  /** Most time to receive the request line and headers. */
  headersTimeoutMs: number;
  /** Most time to receive the whole request, body included (0: none). */
  requestTimeoutMs: number;
  /** Most time a socket may see no traffic either way before it is destroyed (0: none). */
  connectionTimeoutMs: number;
  /** Most time a body may send no byte before it is abandoned with a 408. */
  bodyIdleTimeoutMs: number;
  /** Most dataset uploads with a large (or unknown) body in flight at once; past it, 503. */
  maxUploadsInFlight: number;
}

/** The defaults, which config.ts's variables also default to. */
export const DEFAULT_HTTP_LIMITS: HttpLimits = {
  headersTimeoutMs: 30_000,
  requestTimeoutMs: 300_000,
  connectionTimeoutMs: 600_000,
  bodyIdleTimeoutMs: 30_000,
  maxUploadsInFlight: 4,
};

/** The fastify (and, under `http`, Node server) options that apply `limits` and answer parser errors. */
export function serverOptions(limits: HttpLimits): Pick<
  FastifyServerOptions,
  "connectionTimeout" | "requestTimeout" | "clientErrorHandler" | "frameworkErrors"
> & {
  http: ServerOptions;
} {
  // Node checks the two request timeouts only every `connectionsCheckingInterval` (30 s by default):
  // check often enough that a timeout fires close to when it is due.
  const shortest = Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs || Number.POSITIVE_INFINITY);
  return {
    connectionTimeout: limits.connectionTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    http: {
      headersTimeout: limits.headersTimeoutMs,
      connectionsCheckingInterval: Math.min(30_000, Math.max(25, Math.floor(shortest / 4))),
    },
    clientErrorHandler,
    frameworkErrors,
  };
}
