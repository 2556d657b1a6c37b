import { type ErrorCode, errorCatalog, genericErrorCode, isErrorCode } from "./catalog.js";
import { type GrpcCode, isGrpcCode } from "./codes.js";
import { decodeStatusDetails, STATUS_DETAILS_KEY } from "./status-details.js";

/** Options of {@link RpcError}. */
export interface RpcErrorOptions {
  /** Structured details that travel to the client, e.g. `{ field: "spec.count" }`. */
  readonly details?: Readonly<Record<string, string>>;
  /** The underlying error; stays on the server (logged), never sent. */
  readonly cause?: unknown;
}

/** The shape of a status as grpc-js reports it (ServiceError, StatusObject). */
interface StatusLike {
  code: number;
  details: string;
  metadata?: { get(key: string): unknown[] } | null;
}

function isStatusLike(value: unknown): value is StatusLike {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  return isGrpcCode(v.code) && typeof v.details === "string";
}

function fromStatus(status: StatusLike): RpcError {
  const raw = status.metadata?.get(STATUS_DETAILS_KEY)[0];
  const info = raw instanceof Uint8Array ? decodeStatusDetails(raw) : undefined;
  // Trust the reason only when it belongs to the same status: a mismatch means a foreign or broken sender.
  const code =
    info && isErrorCode(info.reason) && errorCatalog[info.reason].grpcCode === status.code
      ? info.reason
      : genericErrorCode(status.code);
  return new RpcError(code, status.details, { details: info?.metadata });
}

/**
 * The one error type of diffda's RPCs, on both sides of a call. It carries a stable catalog `code`
 * (e.g. "invalid_field"), the gRPC status that code travels with, a message and optional string
 * details. A server handler throws it; the client receives an RpcError with the same code, message and
 * details. Anything else thrown is normalised by {@link RpcError.from}.
 */
export class RpcError extends Error {
  override readonly name = "RpcError";
  /** Stable catalog code. */
  readonly code: ErrorCode;
  /** gRPC status of the code. */
  readonly grpcCode: GrpcCode;
  /** Structured details (ErrorInfo metadata on the wire). */
  readonly details: Readonly<Record<string, string>>;

  /** An error with catalog code `code`; the message defaults to the catalog's description. */
  constructor(code: ErrorCode, message?: string, options: RpcErrorOptions = {}) {
    super(message ?? errorCatalog[code].description, { cause: options.cause });
    this.code = code;
    this.grpcCode = errorCatalog[code].grpcCode;
    this.details = Object.freeze({ ...options.details });
  }

  /** Whether the same request may be retried (UNAVAILABLE, DEADLINE_EXCEEDED, ABORTED). */
  get retryable(): boolean {
    return errorCatalog[this.code].retryable;
  }

  /**
   * Normalises anything thrown or received into an RpcError: an RpcError is returned as is; a grpc-js
   * status (ServiceError) keeps its code, message and the catalog code from its details trailer; an
   * AbortError becomes `cancelled` and a TimeoutError `deadline_exceeded`; any other value becomes
   * `fallback` ("internal" by default) with its message, and the original as `cause`.
   */
  static from(reason: unknown, fallback: ErrorCode = "internal"): RpcError {
    if (reason instanceof RpcError) return reason;
    if (isStatusLike(reason)) return fromStatus(reason);
    if (reason instanceof Error) {
      if (reason.name === "AbortError") return new RpcError("cancelled", reason.message, { cause: reason });
      if (reason.name === "TimeoutError") {
        return new RpcError("deadline_exceeded", reason.message, { cause: reason });
      }
      return new RpcError(fallback, reason.message, { cause: reason });
    }
    return new RpcError(fallback, String(reason), { cause: reason });
  }
}
