import type {
  DescMessage,
  DescMethod,
  DescMethodBiDiStreaming,
  DescMethodClientStreaming,
  DescMethodServerStreaming,
  DescMethodUnary,
  DescService,
  MessageInitShape,
  MessageShape,
} from "@bufbuild/protobuf";

/** What a handler learns about its call. */
export interface HandlerContext {
  /** The service being called. */
  readonly service: DescService;
  /** The method being called. */
  readonly method: DescMethod;
  /**
   * Fires when the call ends early: the client cancelled (reason: RpcError "cancelled"), the deadline
   * passed ("deadline_exceeded") or the server's drain grace period ran out ("shutting_down"). Pass it
   * down into the engine; once it fires nothing the handler returns or yields is sent. Telling a client's
   * deadline from its cancel is best effort (a client cancels at its deadline, see handlers.ts): use the
   * reason for logs and metrics, never for behaviour.
   */
  readonly signal: AbortSignal;
  /** The call's deadline in epoch milliseconds, or `undefined` when the client set none. */
  readonly deadline: number | undefined;
  /** Milliseconds left before the deadline, or `undefined` when there is none. */
  timeRemainingMs(): number | undefined;
  /** String-valued request metadata (lower-case keys; binary `-bin` entries are left out). */
  readonly requestHeaders: Readonly<Record<string, string>>;
  /** The client's address, "ip:port". */
  readonly peer: string;
}

/** A response as a handler may give it: a message or its init shape. */
type ResponseInit<O extends DescMessage> = MessageInitShape<O>;

/** Unary handler: one request, one response. */
export type UnaryImpl<I extends DescMessage, O extends DescMessage> = (
  request: MessageShape<I>,
  context: HandlerContext,
) => Promise<ResponseInit<O>> | ResponseInit<O>;

/** Server-streaming handler: an async generator yielding the responses. */
export type ServerStreamingImpl<I extends DescMessage, O extends DescMessage> = (
  request: MessageShape<I>,
  context: HandlerContext,
) => AsyncIterable<ResponseInit<O>>;

/** Client-streaming handler: reads the requests, returns one response. */
export type ClientStreamingImpl<I extends DescMessage, O extends DescMessage> = (
  requests: AsyncIterable<MessageShape<I>>,
  context: HandlerContext,
) => Promise<ResponseInit<O>>;

/** Bidirectional handler: reads the requests, yields the responses. */
export type BiDiStreamingImpl<I extends DescMessage, O extends DescMessage> = (
  requests: AsyncIterable<MessageShape<I>>,
  context: HandlerContext,
) => AsyncIterable<ResponseInit<O>>;

/** The handler type of a method, by its kind. */
export type MethodImpl<M extends DescMethod> =
  M extends DescMethodUnary<infer I, infer O>
    ? UnaryImpl<I, O>
    : M extends DescMethodServerStreaming<infer I, infer O>
      ? ServerStreamingImpl<I, O>
      : M extends DescMethodClientStreaming<infer I, infer O>
        ? ClientStreamingImpl<I, O>
        : M extends DescMethodBiDiStreaming<infer I, infer O>
          ? BiDiStreamingImpl<I, O>
          : never;

/** An implementation of a service: one handler per method, keyed by the method's local name. */
export type ServiceImpl<S extends DescService> = {
  [K in keyof S["method"]]: MethodImpl<S["method"][K]>;
};

/** Per-call options of a client method. */
export interface CallOptions {
  /** Deadline of this call in milliseconds from now; overrides the client's per-method default. */
  readonly timeoutMs?: number;
  /** Cancels the call when it fires; the call then fails with RpcError "cancelled". */
  readonly signal?: AbortSignal;
  /** Request metadata (ASCII values). */
  readonly headers?: Readonly<Record<string, string>>;
}

/** A client method, by its kind. Every call has a deadline; every failure is an RpcError. */
export type ClientMethod<M extends DescMethod> =
  M extends DescMethodUnary<infer I, infer O>
    ? (request: MessageInitShape<I>, options?: CallOptions) => Promise<MessageShape<O>>
    : M extends DescMethodServerStreaming<infer I, infer O>
      ? (request: MessageInitShape<I>, options?: CallOptions) => AsyncIterable<MessageShape<O>>
      : M extends DescMethodClientStreaming<infer I, infer O>
        ? (requests: AsyncIterable<MessageInitShape<I>>, options?: CallOptions) => Promise<MessageShape<O>>
        : M extends DescMethodBiDiStreaming<infer I, infer O>
          ? (
              requests: AsyncIterable<MessageInitShape<I>>,
              options?: CallOptions,
            ) => AsyncIterable<MessageShape<O>>
          : never;

/** A typed client of a service: one method per RPC, keyed by the method's local name. */
export type Client<S extends DescService> = {
  readonly [K in keyof S["method"]]: ClientMethod<S["method"][K]>;
};
