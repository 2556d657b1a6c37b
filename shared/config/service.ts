import { int, oneOf, string } from "./fields.js";
import { grpcServerSecurityEnv } from "./grpc-security.js";

/** Log levels pino accepts, most severe first. */
export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

/** Default ports of a service process. */
export interface ServicePorts {
  /** Port the gRPC server listens on. */
  readonly grpcPort: number;
  /** Port of the `/metrics` + `/healthz` HTTP server. */
  readonly metricsPort: number;
}

const MiB = 1024 * 1024;
const HOUR_MS = 3_600_000;

/**
 * The variables every gRPC service process reads (logging, listen addresses, TLS and token, message size
 * limits, connection ageing, drain grace). Both servers bind loopback by default; images and manifests
 * set GRPC_HOST and METRICS_HOST to 0.0.0.0 explicitly. Spread the result into a service's own schema:
 * `loadConfig({ ...serviceEnv({ grpcPort: 50052, metricsPort: 9465 }), MODEL_DIR: string() })`.
 */
export function serviceEnv(ports: ServicePorts) {
  return {
    LOG_LEVEL: oneOf(LOG_LEVELS, { default: "info", description: "pino log level" }),
    // Loopback unless told otherwise: an unconfigured process must not be reachable from the network.
    GRPC_HOST: string({ default: "127.0.0.1", description: "address the gRPC server binds" }),
    GRPC_PORT: int({ min: 0, max: 65535, default: ports.grpcPort, description: "gRPC port (0: any)" }),
    ...grpcServerSecurityEnv(),
    GRPC_MAX_RECEIVE_MESSAGE_BYTES: int({
      min: 1024,
      max: 2 ** 31 - 1,
      default: 64 * MiB,
      description: "largest gRPC message accepted; bigger ones fail with RESOURCE_EXHAUSTED",
    }),
    GRPC_MAX_SEND_MESSAGE_BYTES: int({
      min: 1024,
      max: 2 ** 31 - 1,
      default: 64 * MiB,
      description: "largest gRPC message sent; bigger ones fail with RESOURCE_EXHAUSTED",
    }),
    // grpc-js re-resolves a dns:/// target only when a connection ends; closing connections at an age is
    // what sends clients back to DNS, so that replicas a scale-out adds get calls (docs/deploy.md, Scale).
    // At most a day: grpc-js adds ±10% jitter to the age and Node timers overflow past 2^31-1 ms.
    GRPC_MAX_CONNECTION_AGE_MS: int({
      min: 1000,
      max: 24 * HOUR_MS,
      default: 5 * 60_000,
      description:
        "a client connection is closed gracefully (HTTP/2 GOAWAY) after this long, ±10%; clients reconnect and re-resolve DNS",
    }),
    GRPC_MAX_CONNECTION_AGE_GRACE_MS: int({
      min: 0,
      max: 24 * HOUR_MS,
      default: HOUR_MS,
      description:
        "how long calls in flight on an aged connection may still run before it is cut; longer than any call (the gateway's longest default deadline is 1 h)",
    }),
    METRICS_HOST: string({ default: "127.0.0.1", description: "address the metrics HTTP server binds" }),
    METRICS_PORT: int({ min: 0, max: 65535, default: ports.metricsPort, description: "/metrics port" }),
    DRAIN_GRACE_MS: int({
      min: 0,
      default: 30_000,
      description: "on SIGTERM, how long in-flight calls may finish before they are aborted",
    }),
  } as const;
}
