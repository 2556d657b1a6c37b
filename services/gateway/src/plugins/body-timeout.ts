/**
 * The body-idle timeout: a request body that sends no byte for `idleMs` is abandoned with a 408
 * `request_timeout` problem and `Connection: close`, so a client that stops mid-upload frees its socket
 * and its partly buffered body long before the whole-request timeout would. Watching happens in a
 * `preParsing` hook that hands fastify's body reader a pass-through of the raw stream: the reader sees
 * the same bytes, and an idle body reaches it as a stream error, which the error tier answers.
 */
import type { IncomingHttpHeaders } from "node:http";
import { PassThrough, type Readable } from "node:stream";
import type { FastifyReply, FastifyRequest } from "fastify";
import { ApiError } from "../errors.js";
import { appPlugin } from "./plugin.js";

/** Options of {@link bodyTimeoutPlugin}. */
export interface BodyTimeoutOptions {
  /** Most milliseconds between two chunks of a body. */
  idleMs: number;
}

/** Whether the request announces a body (fastify only reads one then). */
export function hasBody(headers: IncomingHttpHeaders): boolean {
  return (
    headers["transfer-encoding"] !== undefined ||
    (headers["content-length"] !== undefined && headers["content-length"] !== "0")
  );
}

/** `payload` passed through, failing with a 408 problem once it has been silent for `idleMs`. */
function watchIdleBody(payload: Readable, reply: FastifyReply, idleMs: number): Readable {
  const out = new PassThrough() as PassThrough & { receivedEncodedLength: number };
  out.receivedEncodedLength = 0;
  // Once the body reader has given up (a 413, a 408), nobody listens for errors on `out` any more.
  out.on("error", () => {});
  const onData = (chunk: Buffer) => {
    // fastify compares this to Content-Length and to the body limit when a hook replaces the stream.
    out.receivedEncodedLength += chunk.length;
    timer.refresh();
    if (!out.write(chunk)) payload.pause();
  };
  const stop = () => {
    clearTimeout(timer);
    payload.off("data", onData);
  };
  const timer = setTimeout(() => {
    stop();
    payload.pause();
    out.destroy(
      new ApiError("request_timeout", `the request body sent nothing for ${idleMs} ms`, {
        headers: { connection: "close" },
      }),
    );
  }, idleMs);
  out.on("drain", () => payload.resume());
  payload.on("data", onData);
  payload.once("end", () => {
    stop();
    out.end();
  });
  payload.once("error", (error) => {
    stop();
    out.destroy(error);
  });
  reply.raw.once("close", stop);
  return out;
}

/** Installs the body-idle timeout on every request that has a body. */
export const bodyTimeoutPlugin = appPlugin<BodyTimeoutOptions>(
  "diffda-body-timeout",
  async (app, options) => {
    app.addHook("preParsing", async (request: FastifyRequest, reply: FastifyReply, payload: Readable) =>
      hasBody(request.headers) ? watchIdleBody(payload, reply, options.idleMs) : payload,
    );
  },
);
