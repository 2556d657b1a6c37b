import type { DescService } from "@bufbuild/protobuf";
import { Server, ServerCredentials, type UntypedServiceImplementation } from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { Metrics } from "../telemetry/metrics.js";
import { createCallTracker } from "./calls.js";
import { RpcError } from "./error.js";
import { grpcHandler, type HandlerEnv } from "./handlers.js";
import { createHealthState, Health, type HealthState, ServingStatus } from "./health.js";
import { limitOptions, type MessageLimits } from "./limits.js";
import { serviceDefinition } from "./schema.js";
import { callObserver } from "./server-metrics.js";
import { AUTHORIZATION_KEY, tokenCheck } from "./token.js";
import type { ServiceImpl } from "./types.js";

/** Options of {@link createRpcServer}. */
export interface RpcServerOptions {
  /** Message size limits (from configuration). */
  readonly limits: MessageLimits;
  /** Logs one line per failed call (warn; error for "internal") and per call at debug. */
  readonly logger?: Logger;
  /** Registers the gRPC server metrics (`grpc_server_*`, server-metrics.ts) in this registry. */
  readonly metrics?: Metrics;
  /** Extra grpc-js server options (keepalive, ...); the limits above take precedence. */
  readonly grpcOptions?: Readonly<Record<string, unknown>>;
  /**
   * When set, every call except grpc.health.v1 must carry `authorization: Bearer <authToken>`; others
   * end with UNAUTHENTICATED (`invalid_token`). Health stays open so that kubelet and load-balancer
   * probes, which send no metadata, keep working; it tells nothing but SERVING or not.
   */
  readonly authToken?: string;
}

/** Where a server listens. */
export interface ListenOptions {
  /** Address to bind, e.g. "0.0.0.0" or "127.0.0.1". */
  readonly host: string;
  /** Port; 0 picks a free one. */
  readonly port: number;
  /** TLS or mTLS credentials; plaintext when omitted. */
  readonly credentials?: ServerCredentials;
}

/** A gRPC server serving protobuf-es services through grpc-js. */
export interface RpcServer {
  /** Serves `service` with `impl`; every method must be implemented. Call before {@link RpcServer.listen}. */
  register<S extends DescService>(service: S, impl: ServiceImpl<S>): void;
  /** Binds and starts serving; resolves with the bound port. Health stays NOT_SERVING until {@link RpcServer.setReady}. */
  listen(options: ListenOptions): Promise<number>;
  /** Marks the server and every registered service SERVING (call once models are loaded). */
  setReady(): void;
  /** The health state, for finer control (e.g. one service NOT_SERVING while it reloads). */
  readonly health: HealthState;
  /** Number of calls in flight. */
  readonly inFlight: number;
  /**
   * Graceful shutdown: health flips to NOT_SERVING (Watch streams get it, then end), new calls are
   * refused, calls in flight get up to `graceMs` to finish; then their signals fire, each ends with
   * UNAVAILABLE ("shutting_down"), and the server closes, forcibly if a connection lingers. Idempotent.
   */
  drain(graceMs: number): Promise<void>;
}

function sleep(ms: number): Promise<"timeout"> {
  return new Promise((resolve) => setTimeout(resolve, ms, "timeout").unref());
}

/**
 * Creates a gRPC server for protobuf-es service descriptors. It always serves grpc.health.v1.Health,
 * reporting NOT_SERVING until {@link RpcServer.setReady} and again while draining.
 */
export function createRpcServer(options: RpcServerOptions): RpcServer {
  const grpcServer = new Server({ ...options.grpcOptions, ...limitOptions(options.limits) });
  const inFlight = options.metrics?.gauge({
    name: "rpc_server_in_flight",
    help: "RPCs in flight on the server",
  });
  const tracker = createCallTracker((size) => inFlight?.set(size));
  const health = createHealthState();
  const registered: string[] = [];
  let draining: Promise<void> | undefined;
  const open = { tracker, isDraining: () => draining !== undefined, ...callObserver(options) };
  const check = options.authToken === undefined ? undefined : tokenCheck(options.authToken);
  const guarded: HandlerEnv = check
    ? { ...open, authorize: (metadata) => check(metadata.get(AUTHORIZATION_KEY)[0]) }
    : open;

  const add = <S extends DescService>(service: S, impl: ServiceImpl<S>, env: HandlerEnv) => {
    const handlers: UntypedServiceImplementation = {};
    for (const method of service.methods) {
      const fn = (impl as Record<string, unknown>)[method.localName];
      if (typeof fn !== "function") {
        throw new TypeError(`${service.typeName}: no handler for ${method.name} (key "${method.localName}")`);
      }
      handlers[method.localName] = grpcHandler(env, service, method, fn.bind(impl) as never);
    }
    grpcServer.addService(serviceDefinition(service), handlers);
  };
  add(Health, health.impl, open);

  return {
    register(service, impl) {
      if (registered.includes(service.typeName))
        throw new TypeError(`${service.typeName} is already registered`);
      add(service, impl, guarded);
      registered.push(service.typeName);
      health.set(service.typeName, ServingStatus.NOT_SERVING);
    },
    listen({ host, port, credentials }) {
      const address = host.includes(":") && !host.startsWith("[") ? `[${host}]:${port}` : `${host}:${port}`;
      return new Promise((resolve, reject) => {
        grpcServer.bindAsync(address, credentials ?? ServerCredentials.createInsecure(), (error, bound) =>
          error ? reject(error) : resolve(bound),
        );
      });
    },
    setReady() {
      health.setAll(ServingStatus.SERVING);
    },
    health,
    get inFlight() {
      return tracker.size;
    },
    drain(graceMs) {
      draining ??= (async () => {
        health.shutdown();
        const closed = new Promise<void>((resolve) => grpcServer.tryShutdown(() => resolve()));
        if ((await Promise.race([tracker.idle(), sleep(graceMs)])) === "timeout") {
          tracker.abortAll(
            new RpcError("shutting_down", `the server shut down after a ${graceMs} ms grace period`),
          );
        }
        // Every call has ended and its status is on its way; give connections a moment to flush, then
        // cut whatever is left.
        if ((await Promise.race([closed, sleep(1000)])) === "timeout") grpcServer.forceShutdown();
      })();
      return draining;
    },
  };
}
