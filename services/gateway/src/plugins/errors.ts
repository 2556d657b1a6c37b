/**
 * The error tier: every error — thrown by a handler or a hook, raised by fastify (validation, body limit,
 * bad JSON, unknown route) — leaves as `application/problem+json` through the one catalog in errors.ts.
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import { ApiError, PROBLEM_CONTENT_TYPE, toApiError, toProblem } from "../errors.js";
import { appPlugin } from "./plugin.js";

/** Sends `error` as a problem document. */
export function sendProblem(request: FastifyRequest, reply: FastifyReply, error: ApiError): FastifyReply {
  const path = request.url.split("?")[0];
  return reply
    .code(error.status)
    .headers(error.headers)
    .type(PROBLEM_CONTENT_TYPE)
    .send(toProblem(error, path));
}

/**
 * The media types a route's body may have: the keys of its schema's `body.content`, else JSON (every
 * other route with a body takes JSON only).
 */
function acceptedTypes(request: FastifyRequest): string[] {
  const body = (request.routeOptions.schema as { body?: { content?: Record<string, unknown> } } | undefined)
    ?.body;
  const listed = Object.keys(body?.content ?? {});
  return listed.length > 0 ? listed : ["application/json"];
}

/** A 415 says what the route takes, so a caller can fix the request without reading the docs. */
function withAcceptedTypes(error: ApiError, request: FastifyRequest): ApiError {
  if (error.code !== "unsupported_media_type") return error;
  const accepted = acceptedTypes(request);
  return new ApiError(
    "unsupported_media_type",
    `${error.message}; this route accepts ${accepted.join(", ")}`,
    {
      cause: error,
      headers: { ...error.headers, "accept-post": accepted.join(", ") },
    },
  );
}

/** Installs the error and not-found handlers. */
export const errorsPlugin = appPlugin("diffda-errors", async (app) => {
  app.setErrorHandler((thrown, request, reply) => {
    const error = withAcceptedTypes(toApiError(thrown), request);
    // The socket is gone (the client reset it, or a request timeout answered and closed it): the body
    // read failed because of that, not because of a bug, and nobody will read this answer.
    if (request.raw.socket?.destroyed)
      request.log.info({ code: error.code }, "client gone before the answer");
    else if (error.status >= 500) request.log.error({ err: thrown, code: error.code }, "request failed");
    else request.log.info({ code: error.code, detail: error.message }, "request refused");
    return sendProblem(request, reply, error);
  });
  app.setNotFoundHandler((request, reply) =>
    sendProblem(
      request,
      reply,
      new ApiError("not_found", `no route ${request.method} ${request.url.split("?")[0]}`),
    ),
  );
});
