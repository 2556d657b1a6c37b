/**
 * Decides whether a failed task may be retried. Infra failures (a replica died, a deadline passed, the
 * service is overloaded) are retried with backoff; bad input is not, because it would fail the same way
 * every time. Errors are read by their gRPC status code (grpc-js and connect errors carry it as `code`).
 *
 * What it returns is stored as the task's error and shown to the job's caller (the job resource, its
 * events), so messages leave without the network addresses of the services behind the gateway: grpc-js
 * writes "connect ECONNREFUSED 10.0.3.7:50053" into its details. The full error goes to the log.
 */

/** gRPC status codes that mean "try again later", not "your request is wrong". */
const RETRYABLE_GRPC_CODES: ReadonlySet<number> = new Set([
  4, // DEADLINE_EXCEEDED
  8, // RESOURCE_EXHAUSTED
  10, // ABORTED
  14, // UNAVAILABLE
]);

/** Node network errors (no gRPC status at all): the other side went away. */
const RETRYABLE_SYSTEM_CODES: ReadonlySet<string> = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
]);

// An address is replaced as a whole, so what is left still reads as a sentence.
const ADDRESS_PATTERNS: readonly RegExp[] = [
  /\b(?:dns|unix|unix-abstract|ipv4|ipv6|vsock):[^\s,;)'"]+/gi, // grpc-js target URIs
  /\[[0-9a-f:.%]+\](?::\d+)?/gi, // [IPv6]:port
  /(?<![\w:])(?:[0-9a-f]{0,4}:){1,7}:(?:[0-9a-f]{0,4}:){0,6}[0-9a-f]{1,4}\b/gi, // IPv6 with "::", e.g. ::1
  /\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b/g, // IPv4[:port]
  /\b(?:localhost|[a-z0-9-]+(?:\.[a-z0-9-]+)+):\d{2,5}\b/gi, // host.name:port
];

/** `message` with every network address replaced by `<address>`. */
export function scrubAddresses(message: string): string {
  return ADDRESS_PATTERNS.reduce((text, pattern) => text.replace(pattern, "<address>"), message);
}

function scrubDetails(details: unknown): unknown {
  if (typeof details === "string") return scrubAddresses(details);
  if (typeof details !== "object" || details === null || Array.isArray(details)) return details;
  return Object.fromEntries(
    Object.entries(details).map(([k, v]) => [k, typeof v === "string" ? scrubAddresses(v) : v]),
  );
}

/** What the runner records for a failed task. */
interface ClassifiedError {
  retryable: boolean;
  /** JSON stored as the task's error (and the job's, when final). */
  error: { code: string | number; message: string; details?: unknown };
}

/** Turns anything a task handler throws into a {@link ClassifiedError}. */
export type ErrorClassifier = (error: unknown) => ClassifiedError;

/**
 * The default classifier: retryable for the gRPC codes in {@link RETRYABLE_GRPC_CODES}, for Node
 * network errors, and for any error with `retryable: true`; everything else (INVALID_ARGUMENT, a bug in
 * a handler) is final.
 */
export const classifyError: ErrorClassifier = (thrown) => {
  const e = (typeof thrown === "object" && thrown !== null ? thrown : {}) as {
    code?: unknown;
    message?: unknown;
    retryable?: unknown;
    details?: unknown;
  };
  const message = scrubAddresses(typeof e.message === "string" ? e.message : String(thrown));
  const code = typeof e.code === "number" || typeof e.code === "string" ? e.code : "UNKNOWN";
  const retryable =
    e.retryable === true ||
    (typeof e.code === "number" && RETRYABLE_GRPC_CODES.has(e.code)) ||
    (typeof e.code === "string" && RETRYABLE_SYSTEM_CODES.has(e.code));
  const details = scrubDetails(e.details);
  return { retryable, error: { code, message, ...(details !== undefined ? { details } : {}) } };
};
