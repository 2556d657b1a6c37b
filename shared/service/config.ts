import {
  type ConfigOf,
  type ConfigSchema,
  loadConfig,
  type ServicePorts,
  serviceEnv,
} from "../config/index.js";
import type { MessageLimits } from "../rpc/index.js";

/**
 * The variables every service host reads: {@link serviceEnv}'s logging, ports, limits, connection ageing
 * and drain grace.
 */
export type HostSchema = ReturnType<typeof serviceEnv>;

/** A service's full schema: the host's variables plus its own. */
export type ServiceSchema<S extends ConfigSchema> = HostSchema & S;

/** The typed configuration of a service with schema `S`. */
export type ServiceConfig<S extends ConfigSchema> = ConfigOf<HostSchema> & ConfigOf<S>;

/**
 * Loads and validates a service's configuration from `env`: the host's variables (with the service's
 * default ports) and the service's own. Throws one ConfigError listing every bad variable.
 */
export function loadServiceConfig<S extends ConfigSchema>(
  ports: ServicePorts,
  schema: S,
  env: Readonly<Record<string, string | undefined>> = process.env,
): ServiceConfig<S> {
  return loadConfig({ ...serviceEnv(ports), ...schema }, env) as ServiceConfig<S>;
}

/**
 * The grpc-js server options that age client connections: after GRPC_MAX_CONNECTION_AGE_MS (grpc-js adds
 * ±10% jitter, so a fleet's connections do not all reconnect at once) the server sends GOAWAY, the client
 * opens a new connection for its next calls and re-resolves a `dns:///` target, and calls in flight keep
 * the old one for up to GRPC_MAX_CONNECTION_AGE_GRACE_MS.
 */
export function connectionAgeOptions(config: ConfigOf<HostSchema>): Record<string, number> {
  return {
    "grpc.max_connection_age_ms": config.GRPC_MAX_CONNECTION_AGE_MS,
    "grpc.max_connection_age_grace_ms": config.GRPC_MAX_CONNECTION_AGE_GRACE_MS,
  };
}

/** The message size limits a configuration names (explicit, never grpc-js' implicit 4 MiB). */
export function messageLimits(config: ConfigOf<HostSchema>): MessageLimits {
  return {
    maxReceiveMessageBytes: config.GRPC_MAX_RECEIVE_MESSAGE_BYTES,
    maxSendMessageBytes: config.GRPC_MAX_SEND_MESSAGE_BYTES,
  };
}
