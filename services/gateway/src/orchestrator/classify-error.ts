/**
 * Decides whether a failed task may be retried. Infra failures (a replica died, a deadline passed, the
 * service is overloaded) are retried with backoff; bad input is not, because it would fail the same way
 * every time. Errors are read by their gRPC status code (grpc-js and connect errors carry it as `code`).
 */

/** gRPC status codes that mean "try again later", not "your request is wrong". */
export const RETRYABLE_GRPC_CODES: ReadonlySet<number> = new Set([
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

/** What the runner records for a failed task. */
export interface ClassifiedError {
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
  const message = typeof e.message === "string" ? e.message : String(thrown);
  const code = typeof e.code === "number" || typeof e.code === "string" ? e.code : "UNKNOWN";
  const retryable =
    e.retryable === true ||
    (typeof e.code === "number" && RETRYABLE_GRPC_CODES.has(e.code)) ||
    (typeof e.code === "string" && RETRYABLE_SYSTEM_CODES.has(e.code));
  return { retryable, error: { code, message, ...(e.details !== undefined ? { details: e.details } : {}) } };
};
