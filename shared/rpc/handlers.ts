import { create, type DescMessage, type DescMethod, type DescService } from "@bufbuild/protobuf";
import {
  type handleBidiStreamingCall,
  type handleClientStreamingCall,
  type handleServerStreamingCall,
  type handleUnaryCall,
  Metadata,
  type ServerDuplexStream,
  type ServerReadableStream,
  type ServerWritableStream,
  type StatusObject,
  type UntypedHandleCall,
} from "@grpc/grpc-js";
import type { CallTracker } from "./calls.js";
import { RpcError } from "./error.js";
import { DecodeFailure } from "./schema.js";
import { encodeStatusDetails, STATUS_DETAILS_KEY } from "./status-details.js";
import { readMessages, writable } from "./stream.js";
import type { HandlerContext } from "./types.js";

/** How one call ended, reported to the server's metrics and logs. */
export interface CallOutcome {
  /** The service called. */
  readonly service: DescService;
  /** The method called. */
  readonly method: DescMethod;
  /** The error the call ended with; `undefined` when it succeeded. */
  readonly error: RpcError | undefined;
  /** Seconds from the handler's start to the end of the call. */
  readonly seconds: number;
}

/** What the handlers need from their server. */
export interface HandlerEnv {
  /** Calls in flight, for drain. */
  readonly tracker: CallTracker;
  /** True once drain started: new calls are refused with "shutting_down". */
  readonly isDraining: () => boolean;
  /** Called once per call when its handler starts. */
  readonly onCallStart?: (service: DescService, method: DescMethod) => void;
  /** Called once per call when it ends. */
  readonly onCallEnd: (outcome: CallOutcome) => void;
  /** Checks a call's metadata before its handler runs: an error refuses the call. */
  readonly authorize?: (metadata: Metadata) => RpcError | undefined;
}

/** What every grpc-js server call object offers (grpc-js does not export its name for it). */
interface ServerSurfaceCall {
  readonly cancelled: boolean;
  readonly metadata: Metadata;
  getPeer(): string;
  getDeadline(): Date | number;
  on(event: "cancelled", listener: () => void): unknown;
  off(event: "cancelled", listener: () => void): unknown;
}

// Telling a client's deadline from a client's cancel. A grpc-js client cancels (RST_STREAM, the same frame
// as an explicit cancel) when its own deadline passes, and the server's deadline is the grpc-timeout it
// received added to when the headers arrived, so it lags the client's by the request's delivery time:
// milliseconds, tens of them on a loaded machine, and not measurable here. A cancel that arrives within
// this tolerance before the server's deadline is counted as the deadline; an explicit cancel that late is
// counted so too (the call had all but run out of time). A lag beyond it still reads as a cancel: the
// classification feeds metrics and logs only, and callers must not depend on it.
const DEADLINE_TOLERANCE_MS = 100;

/** The grpc-js status that carries `error`: code, message and the ErrorInfo trailer. */
function toStatus(error: RpcError): StatusObject {
  const metadata = new Metadata();
  const details = encodeStatusDetails(error.grpcCode, error.message, {
    reason: error.code,
    metadata: error.details,
  });
  metadata.set(STATUS_DETAILS_KEY, Buffer.from(details.buffer, details.byteOffset, details.byteLength));
  return { code: error.grpcCode, details: error.message, metadata };
}

function undecodable(failure: DecodeFailure): RpcError {
  const reason = failure.error instanceof Error ? failure.error.message : String(failure.error);
  return new RpcError("invalid_argument", `request message does not decode: ${reason}`, {
    cause: failure.error,
  });
}

function headersOf(metadata: Metadata): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [key, value] of Object.entries(metadata.getMap())) {
    if (typeof value === "string") headers[key] = value;
  }
  return headers;
}

function epochMs(deadline: Date | number): number | undefined {
  const ms = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(ms) ? ms : undefined;
}

/** A call that started: its context and the two ways to end it. */
interface OpenCall {
  readonly context: HandlerContext;
  /** Marks the call successful; false when it had already ended (then nothing may be sent). */
  succeed(): boolean;
  /** Ends the call with `error` unless it already ended, then fires the handler's signal. */
  fail(error: RpcError): void;
}

/**
 * Starts the bookkeeping of one call: abort signal (client cancel, deadline, drain), tracking for drain,
 * and exactly one end. `send` writes an error status to the client.
 */
function open(
  env: HandlerEnv,
  service: DescService,
  method: DescMethod,
  call: ServerSurfaceCall,
  send: (error: RpcError) => void,
): OpenCall | undefined {
  if (call.cancelled) return undefined;
  const started = performance.now();
  env.onCallStart?.(service, method);
  const controller = new AbortController();
  const deadline = epochMs(call.getDeadline());
  let ended = false;
  let untrack = () => {};
  const end = (error: RpcError | undefined): boolean => {
    if (ended) return false;
    ended = true;
    untrack();
    call.off("cancelled", onCancelled);
    env.onCallEnd({ service, method, error, seconds: (performance.now() - started) / 1000 });
    return true;
  };
  // grpc-js emits "cancelled" when the client resets the stream and after it sent DEADLINE_EXCEEDED; in
  // both cases the status is already decided, so only the handler's signal is left to fire.
  const onCancelled = () => {
    const reason =
      deadline !== undefined && Date.now() >= deadline - DEADLINE_TOLERANCE_MS
        ? new RpcError("deadline_exceeded", "the call's deadline passed")
        : new RpcError("cancelled", "the client cancelled the call");
    if (end(reason)) controller.abort(reason);
  };
  const fail = (error: RpcError) => {
    if (!end(error)) return;
    send(error);
    controller.abort(error);
  };
  call.on("cancelled", onCancelled);
  untrack = env.tracker.add({ abort: fail });
  if (env.isDraining()) {
    fail(new RpcError("shutting_down", "the server is draining and takes no new calls"));
    return undefined;
  }
  const denied = env.authorize?.(call.metadata);
  if (denied) {
    fail(denied);
    return undefined;
  }
  const context: HandlerContext = {
    service,
    method,
    signal: controller.signal,
    deadline,
    timeRemainingMs: () => (deadline === undefined ? undefined : Math.max(0, deadline - Date.now())),
    requestHeaders: headersOf(call.metadata),
    peer: call.getPeer(),
  };
  return { context, succeed: () => end(undefined), fail };
}

/** The requests of a client- or bidi-streaming call; throws the abort reason if the call ends early. */
async function* requests(
  stream: ServerReadableStream<unknown, unknown> | ServerDuplexStream<unknown, unknown>,
  signal: AbortSignal,
): AsyncGenerator<unknown, void, undefined> {
  try {
    for await (const message of readMessages(stream)) {
      if (message instanceof DecodeFailure) throw undecodable(message);
      yield message;
    }
  } finally {
    // A handler that stops reading early leaves the rest unread; pausing applies back-pressure
    // instead of dropping messages until the call ends.
    stream.pause();
  }
  // Ended by a cancel rather than a half-close: never hand a truncated upload over as complete. (A Node
  // HTTP/2 client that cancels sends END_STREAM just before RST_STREAM, so a cancel can also look like a
  // clean half-close for a moment; the signal then fires as the handler starts working. Upload protocols
  // therefore declare their counts up front, see DatasetChunk.)
  if (signal.aborted) throw signal.reason;
}

/**
 * Writes what a streaming handler yields, with back-pressure. On abort the handler's iterator is told to
 * return (an async generator resumes into its `finally` blocks at its next `yield`) and nothing more is
 * sent.
 */
async function pump(
  call: ServerWritableStream<unknown, unknown> | ServerDuplexStream<unknown, unknown>,
  output: DescMessage,
  opened: OpenCall,
  start: () => AsyncIterable<unknown>,
): Promise<void> {
  const { signal } = opened.context;
  let iterator: AsyncIterator<unknown> | undefined;
  const stop = () => {
    iterator?.return?.().catch(() => {});
  };
  signal.addEventListener("abort", stop, { once: true });
  try {
    iterator = start()[Symbol.asyncIterator]();
    for (;;) {
      const next = await iterator.next();
      if (next.done || signal.aborted) break;
      // biome-ignore lint/suspicious/noExplicitAny: the init shape was checked by the ServiceImpl type.
      if (!call.write(create(output, next.value as any))) await writable(call, signal);
    }
    if (opened.succeed()) call.end();
  } catch (error) {
    opened.fail(RpcError.from(error));
  } finally {
    signal.removeEventListener("abort", stop);
  }
}

/** A handler of any kind, untyped: the ServiceImpl type checked it at registration. */
// biome-ignore lint/suspicious/noExplicitAny: see above.
type AnyImpl = (input: any, context: HandlerContext) => any;

/**
 * The grpc-js handler of one method: maps the protobuf-es handler's kind (plain async function or async
 * generator) onto grpc-js's call objects, normalises thrown errors to statuses, and tracks the call.
 */
export function grpcHandler(
  env: HandlerEnv,
  service: DescService,
  method: DescMethod,
  impl: AnyImpl,
): UntypedHandleCall {
  const output = method.output;
  switch (method.methodKind) {
    case "unary": {
      const handler: handleUnaryCall<unknown, unknown> = (call, callback) => {
        const opened = open(env, service, method, call, (error) => callback(toStatus(error)));
        if (!opened) return;
        void (async () => {
          try {
            if (call.request instanceof DecodeFailure) throw undecodable(call.request);
            const response = create(output, await impl(call.request, opened.context));
            if (opened.succeed()) callback(null, response);
          } catch (error) {
            opened.fail(RpcError.from(error));
          }
        })();
      };
      return handler;
    }
    case "server_streaming": {
      const handler: handleServerStreamingCall<unknown, unknown> = (call) => {
        const opened = open(env, service, method, call, (error) => call.emit("error", toStatus(error)));
        if (!opened) return;
        void pump(call, output, opened, () => {
          if (call.request instanceof DecodeFailure) throw undecodable(call.request);
          return impl(call.request, opened.context);
        });
      };
      return handler;
    }
    case "client_streaming": {
      const handler: handleClientStreamingCall<unknown, unknown> = (call, callback) => {
        const opened = open(env, service, method, call, (error) => callback(toStatus(error)));
        if (!opened) return;
        void (async () => {
          try {
            const response = create(
              output,
              await impl(requests(call, opened.context.signal), opened.context),
            );
            if (opened.succeed()) callback(null, response);
          } catch (error) {
            opened.fail(RpcError.from(error));
          }
        })();
      };
      return handler;
    }
    case "bidi_streaming": {
      const handler: handleBidiStreamingCall<unknown, unknown> = (call) => {
        const opened = open(env, service, method, call, (error) => call.emit("error", toStatus(error)));
        if (!opened) return;
        void pump(call, output, opened, () => impl(requests(call, opened.context.signal), opened.context));
      };
      return handler;
    }
  }
}
