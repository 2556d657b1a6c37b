import {
  create,
  type DescMessage,
  type DescMethod,
  type DescService,
  type MessageShape,
} from "@bufbuild/protobuf";
import {
  type ChannelCredentials,
  Client as GrpcClient,
  credentials as grpcCredentials,
  Metadata,
  type StatusObject,
} from "@grpc/grpc-js";
import { RpcError } from "./error.js";
import { limitOptions, type MessageLimits } from "./limits.js";
import { deserializer, methodPath, serializer } from "./schema.js";
import { readMessages, writable } from "./stream.js";
import type { CallOptions, Client } from "./types.js";

/** Options of {@link createChannel}. */
export interface ChannelOptions {
  /** Target, e.g. "127.0.0.1:50051" or "dns:///generation.diffda.svc:50051". */
  readonly address: string;
  /** Message size limits (from configuration). */
  readonly limits: MessageLimits;
  /** TLS or mTLS credentials; plaintext when omitted. */
  readonly credentials?: ChannelCredentials;
  /**
   * Metadata every call on the channel carries, e.g. `bearerMetadata(token)`; a call's own headers of
   * the same name win. (grpc-js call credentials would need TLS; a token may also travel over a
   * plaintext hop to a mesh sidecar.)
   */
  readonly metadata?: Readonly<Record<string, string>>;
  /**
   * Extra grpc-js channel options, e.g. `{ "grpc.service_config": JSON.stringify({ loadBalancingConfig:
   * [{ round_robin: {} }] }) }` to spread calls over the replicas behind a headless Service.
   */
  readonly grpcOptions?: Readonly<Record<string, unknown>>;
}

/** A connection (pool) to one target, shared by the clients created on it. */
export interface RpcChannel {
  /** The target. */
  readonly address: string;
  /** Closes the channel; calls in flight fail with CANCELLED or UNAVAILABLE. */
  close(): void;
}

const channels = new WeakMap<RpcChannel, { grpc: GrpcClient; metadata: Readonly<Record<string, string>> }>();

/** Opens a channel to `options.address`; it connects lazily on the first call. */
export function createChannel(options: ChannelOptions): RpcChannel {
  const grpc = new GrpcClient(options.address, options.credentials ?? grpcCredentials.createInsecure(), {
    ...options.grpcOptions,
    ...limitOptions(options.limits),
  });
  const channel: RpcChannel = { address: options.address, close: () => grpc.close() };
  channels.set(channel, { grpc, metadata: { ...options.metadata } });
  return channel;
}

/** Deadlines of a client's calls. */
export interface ClientOptions<S extends DescService> {
  /** Default deadline of every call, in milliseconds from the call's start. */
  readonly timeoutMs: number;
  /** Per-method defaults by local name (e.g. `{ generateShard: 600_000 }`), overriding `timeoutMs`. */
  readonly methodTimeoutsMs?: { readonly [K in keyof S["method"]]?: number };
}

function checkTimeout(ms: number, what: string): number {
  if (!Number.isFinite(ms) || ms <= 0)
    throw new RangeError(`${what} must be a positive finite number, got ${ms}`);
  return ms;
}

/** Everything one call needs, computed when it starts. */
interface Prepared {
  readonly metadata: Metadata;
  readonly deadline: number;
  readonly signal: AbortSignal | undefined;
}

function cancelledError(signal: AbortSignal): RpcError {
  const reason = signal.reason;
  return new RpcError("cancelled", reason instanceof Error ? reason.message : "the call was cancelled", {
    cause: reason,
  });
}

/** Cancels `call` when `signal` fires; returns the function that stops listening. */
function linkSignal(signal: AbortSignal | undefined, call: { cancel(): void }): () => void {
  if (!signal) return () => {};
  const cancel = () => call.cancel();
  signal.addEventListener("abort", cancel, { once: true });
  return () => signal.removeEventListener("abort", cancel);
}

/** Resolves with the call's final status (grpc-js emits "status" on every call object). */
function statusOf(call: NodeJS.EventEmitter): Promise<StatusObject> {
  // grpc-js also emits "error" for a failed status; the status carries the same facts, and without a
  // listener an "error" after the consumer stopped reading would crash the process.
  call.on("error", () => {});
  return new Promise((resolve) => call.once("status", resolve));
}

function failure(status: StatusObject, signal: AbortSignal | undefined): RpcError {
  if (signal?.aborted) return cancelledError(signal);
  return RpcError.from(status);
}

/** Writes `requests` to a client or bidi call with back-pressure, then half-closes; stops when `ended` fires. */
async function sendAll(
  requests: AsyncIterable<unknown>,
  call: NodeJS.WritableStream & NodeJS.EventEmitter,
  input: DescMessage,
  ended: AbortSignal,
): Promise<void> {
  for await (const init of requests) {
    if (ended.aborted) return;
    // biome-ignore lint/suspicious/noExplicitAny: the init shape was checked by the Client type.
    if (!call.write(create(input, init as any) as never)) await writable(call, ended);
  }
  if (!ended.aborted) call.end();
}

type AnyMethod = (input: unknown, options?: CallOptions) => unknown;

function clientMethod(
  grpc: GrpcClient,
  method: DescMethod,
  defaultTimeoutMs: number,
  channelMetadata: Readonly<Record<string, string>>,
): AnyMethod {
  const path = methodPath(method);
  const serialize = serializer(method.input);
  const deserialize = deserializer(method.output) as (bytes: Buffer) => MessageShape<DescMessage>;
  const prepare = (options: CallOptions = {}): Prepared => {
    const metadata = new Metadata();
    for (const [key, value] of Object.entries(channelMetadata)) metadata.set(key, value);
    for (const [key, value] of Object.entries(options.headers ?? {})) metadata.set(key, value);
    const timeoutMs = checkTimeout(options.timeoutMs ?? defaultTimeoutMs, "timeoutMs");
    return { metadata, deadline: Date.now() + timeoutMs, signal: options.signal };
  };

  switch (method.methodKind) {
    case "unary":
      return async (request, options) => {
        const { metadata, deadline, signal } = prepare(options);
        if (signal?.aborted) throw cancelledError(signal);
        return await new Promise((resolve, reject) => {
          // biome-ignore lint/suspicious/noExplicitAny: the init shape was checked by the Client type.
          const message = create(method.input, request as any);
          let unlink = () => {};
          const call = grpc.makeUnaryRequest(
            path,
            serialize,
            deserialize,
            message,
            metadata,
            { deadline },
            (error, response) => {
              unlink();
              if (error) reject(signal?.aborted ? cancelledError(signal) : RpcError.from(error));
              else resolve(response);
            },
          );
          unlink = linkSignal(signal, call);
        });
      };

    case "server_streaming":
      return (request, options) =>
        (async function* () {
          const { metadata, deadline, signal } = prepare(options);
          if (signal?.aborted) throw cancelledError(signal);
          // biome-ignore lint/suspicious/noExplicitAny: the init shape was checked by the Client type.
          const message = create(method.input, request as any);
          const call = grpc.makeServerStreamRequest(path, serialize, deserialize, message, metadata, {
            deadline,
          });
          const status = statusOf(call);
          const unlink = linkSignal(signal, call);
          try {
            yield* readMessages<MessageShape<DescMessage>>(call);
            const final = await status;
            if (final.code !== 0) throw failure(final, signal);
          } finally {
            unlink();
            call.cancel(); // no-op once the status arrived; stops the server when the consumer quits early
          }
        })();

    case "client_streaming":
      return async (requests, options) => {
        const { metadata, deadline, signal } = prepare(options);
        if (signal?.aborted) throw cancelledError(signal);
        let settle!: (outcome: { error: unknown; response: unknown }) => void;
        const outcome = new Promise<{ error: unknown; response: unknown }>((resolve) => {
          settle = resolve;
        });
        const call = grpc.makeClientStreamRequest(
          path,
          serialize,
          deserialize,
          metadata,
          { deadline },
          (error, response) => settle({ error, response }),
        );
        call.on("error", () => {}); // the callback reports failures
        const ended = new AbortController();
        void outcome.then(() => ended.abort());
        const unlink = linkSignal(signal, call);
        try {
          // Stop sending as soon as the server answers (e.g. it rejected the header early).
          await Promise.race([
            sendAll(requests as AsyncIterable<unknown>, call, method.input, ended.signal),
            outcome,
          ]);
        } catch (error) {
          call.cancel();
          unlink();
          throw new RpcError("cancelled", `the request stream failed: ${RpcError.from(error).message}`, {
            cause: error,
          });
        }
        const { error, response } = await outcome;
        unlink();
        if (error) throw signal?.aborted ? cancelledError(signal) : RpcError.from(error);
        return response;
      };

    case "bidi_streaming":
      return (requests, options) =>
        (async function* () {
          const { metadata, deadline, signal } = prepare(options);
          if (signal?.aborted) throw cancelledError(signal);
          const call = grpc.makeBidiStreamRequest(path, serialize, deserialize, metadata, { deadline });
          const status = statusOf(call);
          const ended = new AbortController();
          void status.then(() => ended.abort());
          const unlink = linkSignal(signal, call);
          let sendError: unknown;
          void sendAll(requests as AsyncIterable<unknown>, call, method.input, ended.signal).catch(
            (error) => {
              sendError = error;
              call.cancel();
            },
          );
          try {
            yield* readMessages<MessageShape<DescMessage>>(call);
            const final = await status;
            if (sendError !== undefined) {
              throw new RpcError(
                "cancelled",
                `the request stream failed: ${RpcError.from(sendError).message}`,
                {
                  cause: sendError,
                },
              );
            }
            if (final.code !== 0) throw failure(final, signal);
          } finally {
            unlink();
            call.cancel();
          }
        })();
  }
}

/**
 * A typed client of `service` on `channel`. Every call has a deadline: the per-call `timeoutMs`, else the
 * method's default, else `options.timeoutMs`. Every failure is an {@link RpcError} with the catalog code
 * the server threw (or the generic code of the status). Streaming methods return async iterables that
 * start the call when iterated; leaving the loop early cancels the call.
 */
export function createClient<S extends DescService>(
  service: S,
  channel: RpcChannel,
  options: ClientOptions<S>,
): Client<S> {
  const opened = channels.get(channel);
  if (!opened) throw new TypeError("channel was not created by createChannel");
  checkTimeout(options.timeoutMs, "timeoutMs");
  const client: Record<string, AnyMethod> = {};
  for (const method of service.methods) {
    const perMethod = (options.methodTimeoutsMs as Record<string, number | undefined> | undefined)?.[
      method.localName
    ];
    const timeoutMs = checkTimeout(perMethod ?? options.timeoutMs, `timeout of ${method.name}`);
    client[method.localName] = clientMethod(opened.grpc, method, timeoutMs, opened.metadata);
  }
  return client as Client<S>;
}
