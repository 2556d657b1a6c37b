import { type DestinationStream, type Logger, type LoggerOptions, pino } from "pino";

export type { Logger } from "pino";

/** Options of {@link createLogger}. */
export interface LoggerConfig {
  /** Service name, added to every line as `service` (e.g. "generation"). */
  readonly service: string;
  /** Minimum level: fatal, error, warn, info, debug, trace or silent. */
  readonly level: string;
  /** Where lines go; stdout when omitted (tests pass a stream to read them back). */
  readonly destination?: DestinationStream;
  /** Extra fields on every line, e.g. `{ replica: hostname }`. */
  readonly base?: Readonly<Record<string, unknown>>;
}

/**
 * Paths whose values never reach a log line. Requests carry API keys and inline image bytes; neither
 * belongs in logs (the bytes would also make lines huge).
 */
const REDACT = [
  "apiKey",
  "*.apiKey",
  "authorization",
  "*.authorization",
  "headers.authorization",
  "*.headers.authorization",
  "password",
  "*.password",
];

/**
 * A structured JSON logger (pino): one object per line with `level` as a label, an ISO `time`, the
 * `service` and `pid`. Derive per-call loggers with {@link childLogger}.
 */
export function createLogger(config: LoggerConfig): Logger {
  const options: LoggerOptions = {
    level: config.level,
    base: { service: config.service, pid: process.pid, ...config.base },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    redact: { paths: REDACT, censor: "[redacted]" },
  };
  return config.destination ? pino(options, config.destination) : pino(options);
}

/**
 * A child logger whose lines carry `bindings` (e.g. `{ rpc: "GenerateShard", job_id, shard_index }`).
 * Job ids belong in logs, never in metric labels.
 */
export function childLogger(logger: Logger, bindings: Readonly<Record<string, unknown>>): Logger {
  return logger.child(bindings);
}
