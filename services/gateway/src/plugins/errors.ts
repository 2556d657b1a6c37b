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

/** Installs the error and not-found handlers. */
export const errorsPlugin = appPlugin("diffda-errors", async (app) => {
  app.setErrorHandler((thrown, request, reply) => {
    const error = toApiError(thrown);
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
