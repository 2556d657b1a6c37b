/**
 * Errors raised before a route runs, answered through the same catalog as every other error: Node's HTTP
 * parser (bad request line or framing, headers too large, headers or request too slow) reports them on
 * the server's `clientError` event, where no request object exists, so the problem document is written
 * to the socket directly; an `Expect` other than `100-continue` arrives on `checkExpectation`; fastify's
 * router reports a malformed percent-encoding or an over-long parameter through `frameworkErrors`.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { ApiError, type ApiErrorCode, PROBLEM_CONTENT_TYPE, toApiError, toProblem } from "../errors.js";
import { sendProblem } from "./errors.js";
import { appPlugin } from "./plugin.js";

/** The catalog code of a Node HTTP parser or server error (`err.code` of a `clientError`). */
function clientErrorCode(code: string | undefined): ApiErrorCode {
  switch (code) {
    case "HPE_HEADER_OVERFLOW":
      return "headers_too_large";
    case "HPE_CHUNK_EXTENSIONS_OVERFLOW":
      return "payload_too_large";
    case "ERR_HTTP_REQUEST_TIMEOUT":
      return "request_timeout";
    default:
      return "malformed_request";
  }
}

/** The bytes of a complete HTTP/1.1 response carrying `error` as a problem document, closing the connection. */
function rawProblemResponse(error: ApiError): string {
  const body = JSON.stringify(toProblem(error));
  const head = [
    `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status] ?? "Error"}`,
    `content-type: ${PROBLEM_CONTENT_TYPE}`,
    `content-length: ${Buffer.byteLength(body)}`,
    ...Object.entries(error.headers).map(([name, value]) => `${name}: ${value}`),
    "connection: close",
  ];
  return `${head.join("\r\n")}\r\n\r\n${body}`;
}

const DETAILS: Partial<Record<ApiErrorCode, string>> = {
  headers_too_large: "the request line and headers are larger than the server accepts",
  request_timeout: "the request did not arrive in time",
  payload_too_large: "the chunk extensions are larger than the server accepts",
};

/**
 * fastify's `clientErrorHandler`: answers a parser or timeout error with a problem document and closes
 * the socket. Bound to the fastify instance (`this`), whose logger it uses.
 */
export function clientErrorHandler(
  this: FastifyInstance,
  error: NodeJS.ErrnoException,
  socket: Socket,
): void {
  // A reset peer has gone away: there is no one to answer.
  if (error.code === "ECONNRESET" || socket.destroyed) return;
  const code = clientErrorCode(error.code);
  this.log.info({ code, cause: error.code }, "request refused by the HTTP parser");
  // A response already under way on this socket (e.g. refused before its body arrived) must not be
  // corrupted by a second status line; Node's own fallback makes the same check.
  const inFlight = (socket as Socket & { _httpMessage?: ServerResponse })._httpMessage;
  if (!socket.writable || inFlight?.headersSent) {
    socket.destroy();
    return;
  }
  const problem = new ApiError(
    code,
    DETAILS[code] ?? `the HTTP request cannot be parsed (${error.code ?? "unknown"})`,
  );
  socket.end(rawProblemResponse(problem), () => socket.destroy());
}

/** fastify's `frameworkErrors`: the router's own refusals as problem documents. */
export function frameworkErrors(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const problem = toApiError(error);
  request.log.info({ code: problem.code, detail: problem.message }, "request refused by the router");
  sendProblem(request, reply, problem);
}

/** Answers an `Expect` header other than `100-continue` (Node's own answer is an empty 417). */
export const httpErrorsPlugin = appPlugin("diffda-http-errors", async (app) => {
  // Under inject() there is a server object but no socket traffic: the listener is simply never called.
  app.server.on("checkExpectation", (request: IncomingMessage, response: ServerResponse) => {
    const error = new ApiError(
      "expectation_failed",
      `the server cannot meet \`Expect: ${String(request.headers.expect).slice(0, 100)}\`; only 100-continue`,
    );
    const body = JSON.stringify(toProblem(error, request.url?.split("?")[0]));
    response.writeHead(error.status, {
      "content-type": PROBLEM_CONTENT_TYPE,
      "content-length": Buffer.byteLength(body),
      connection: "close",
    });
    response.end(body);
  });
});
