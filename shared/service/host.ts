import {
  ConfigError,
  type ConfigSchema,
  LOG_LEVELS,
  type ServerSecurity,
  type ServicePorts,
  serverSecurity,
} from "../config/index.js";
import { createRpcServer, type RpcServer, type ServerTls, serverTls } from "../rpc/index.js";
import {
  createLogger,
  createMetrics,
  type Logger,
  type Metrics,
  type MetricsServer,
  startMetricsServer,
} from "../telemetry/index.js";
import { connectionAgeOptions, loadServiceConfig, messageLimits, type ServiceConfig } from "./config.js";

/** Whether `host` is reachable from this machine only. */
function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || host === "[::1]" || /^127\./.test(host);
}

/** What a service's setup gets from the host. */
export interface ServiceHost<S extends ConfigSchema> {
  /** Service name: "generation", "classifier", "finetune". */
  readonly name: string;
  /** The validated configuration (host variables and the service's own). */
  readonly config: ServiceConfig<S>;
  readonly logger: Logger;
  /** The process's metric registry (served on `/metrics`). */
  readonly metrics: Metrics;
  /** The gRPC server: register the service on it during setup. */
  readonly server: RpcServer;
  /** Fires when the process starts draining, before in-flight calls are aborted. */
  readonly draining: AbortSignal;
}

/** A service's lifecycle hooks, returned by its setup. */
export interface ServiceModule {
  /** Loads what the service needs to serve (models); health turns SERVING when it resolves. */
  load?(): Promise<void>;
  /** Frees engines (worker threads, sessions) after the drain. */
  close?(): Promise<void>;
}

/** Options of {@link runService}. */
export interface ServiceOptions<S extends ConfigSchema> {
  readonly name: string;
  /** Default ports (GRPC_PORT, METRICS_PORT override them; 0 picks free ones). */
  readonly ports: ServicePorts;
  /** The service's own variables, besides the host's. */
  readonly schema: S;
  /** Environment to read (default: process.env). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Registers the service's handlers on `host.server` and returns its lifecycle hooks. */
  setup(host: ServiceHost<S>): ServiceModule | Promise<ServiceModule>;
  /** Ends the process (default `process.exit`); called once with 0 after a drain, 1 after a failure. */
  readonly exit?: (code: number) => void;
  /** Install SIGTERM/SIGINT handlers (default true). */
  readonly handleSignals?: boolean;
}

/** A running service. */
export interface RunningService {
  readonly grpcPort: number;
  readonly metricsPort: number;
  /** Resolves when the models are loaded and health says SERVING. */
  readonly ready: Promise<void>;
  /** Drains and stops (what SIGTERM does); resolves with the exit code. */
  shutdown(reason: string): Promise<number>;
}

/**
 * Boots a service process: configuration from the environment (a bad one stops the process with a
 * message listing every bad variable), JSON logs, a metric registry with `/metrics`, `/healthz` and
 * `/readyz` (200 while health says SERVING) on their own port, a gRPC server (TLS, mTLS, a token as
 * configured) with explicit message limits whose health stays NOT_SERVING until the service's
 * `load` resolves. Logs one `{"event":"listening","grpc_port":…,"metrics_port":…}` line once bound (tests
 * and supervisors read the ports from it) and `{"event":"ready"}` once serving. SIGTERM or SIGINT drains:
 * health NOT_SERVING, new calls refused, calls in flight get DRAIN_GRACE_MS to finish before their signals
 * fire, then the service closes its engines and the process exits 0.
 */
export async function runService<S extends ConfigSchema>(
  options: ServiceOptions<S>,
): Promise<RunningService> {
  const exit = options.exit ?? ((code: number) => process.exit(code));
  let config: ServiceConfig<S>;
  let security: ServerSecurity;
  try {
    config = loadServiceConfig(options.ports, options.schema, options.env);
    security = serverSecurity(config);
  } catch (error) {
    // The configured level may be what is broken: use it only when it is a valid one.
    const wanted = (options.env ?? process.env).LOG_LEVEL?.trim();
    const level = wanted && (LOG_LEVELS as readonly string[]).includes(wanted) ? wanted : "info";
    const boot = createLogger({ service: options.name, level });
    boot.fatal(
      { event: "config_invalid", err: error },
      error instanceof ConfigError ? error.message : String(error),
    );
    exit(1);
    throw error;
  }
  const logger = createLogger({ service: options.name, level: config.LOG_LEVEL });
  const metrics = createMetrics({ defaultLabels: { service: options.name } });
  const readyGauge = metrics.gauge({
    name: "service_ready",
    help: "1 while the service answers SERVING (models loaded, not draining), else 0",
  });
  readyGauge.set(0);
  // What gRPC health says of the server as a whole, for /readyz (probes that cannot speak TLS).
  let serving = false;
  const server = createRpcServer({
    limits: messageLimits(config),
    logger,
    metrics,
    grpcOptions: connectionAgeOptions(config),
    ...(security.token === undefined ? {} : { authToken: security.token }),
  });
  const tls: ServerTls | undefined = security.tls && serverTls(security.tls, { logger });
  const draining = new AbortController();
  const host: ServiceHost<S> = {
    name: options.name,
    config,
    logger,
    metrics,
    server,
    draining: draining.signal,
  };

  let module: ServiceModule;
  let metricsServer: MetricsServer | undefined;
  let grpcPort: number;
  try {
    module = await options.setup(host);
    // Until the files are read the server would drop every connection: read them before binding.
    await tls?.loaded;
    grpcPort = await server.listen({
      host: config.GRPC_HOST,
      port: config.GRPC_PORT,
      ...(tls ? { credentials: tls.credentials } : {}),
    });
    metricsServer = await startMetricsServer({
      registry: metrics.registry,
      port: config.METRICS_PORT,
      host: config.METRICS_HOST,
      ready: () => serving,
    });
  } catch (error) {
    logger.fatal({ event: "boot_failed", err: error }, "the service could not start");
    await metricsServer?.close().catch(() => {});
    await server.drain(0).catch(() => {});
    tls?.close();
    exit(1);
    throw error;
  }
  const transport = tls ? (tls.mutual ? "mtls" : "tls") : "plaintext";
  const auth = security.token === undefined ? "none" : "token";
  logger.info(
    { event: "listening", grpc_port: grpcPort, metrics_port: metricsServer.port, transport, auth },
    `gRPC (${transport}, auth ${auth}) on ${config.GRPC_HOST}:${grpcPort}, metrics on ${config.METRICS_HOST}:${metricsServer.port}`,
  );
  if (!tls && !security.token && !isLoopback(config.GRPC_HOST)) {
    logger.warn(
      { event: "grpc_unprotected", host: config.GRPC_HOST },
      "gRPC accepts plaintext calls from anyone who can reach this address: set GRPC_TLS_* or GRPC_AUTH_TOKEN, or bind loopback",
    );
  }

  let stopping: Promise<number> | undefined;
  const shutdown = (reason: string, code = 0): Promise<number> => {
    stopping ??= (async () => {
      serving = false;
      readyGauge.set(0);
      logger.info(
        { event: "draining", reason, in_flight: server.inFlight, grace_ms: config.DRAIN_GRACE_MS },
        "draining",
      );
      draining.abort(reason);
      const started = performance.now();
      await server.drain(config.DRAIN_GRACE_MS);
      tls?.close();
      await module
        .close?.()
        .catch((error: unknown) => logger.error({ err: error }, "closing the service failed"));
      await metricsServer?.close().catch(() => {});
      logger.info(
        { event: "stopped", seconds: (performance.now() - started) / 1000, exit_code: code },
        "stopped",
      );
      exit(code);
      return code;
    })();
    return stopping;
  };
  if (options.handleSignals !== false) {
    for (const signal of ["SIGTERM", "SIGINT"] as const) process.once(signal, () => void shutdown(signal));
  }

  const started = performance.now();
  const ready = (async () => {
    try {
      await module.load?.();
    } catch (error) {
      logger.fatal({ event: "load_failed", err: error }, "loading the service failed");
      void shutdown("load_failed", 1);
      throw error;
    }
    if (stopping) return;
    server.setReady();
    serving = true;
    readyGauge.set(1);
    logger.info({ event: "ready", seconds: (performance.now() - started) / 1000 }, "serving");
  })();
  ready.catch(() => {});
  return { grpcPort, metricsPort: metricsServer.port, ready, shutdown: (reason) => shutdown(reason) };
}
