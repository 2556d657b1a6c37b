import { GrpcCode } from "./codes.js";

/** One entry of the error catalog. */
export interface CatalogEntry {
  /** The gRPC status the error travels with. */
  readonly grpcCode: GrpcCode;
  /** Whether a caller may retry the same request (the orchestrator's retry policy reads this). */
  readonly retryable: boolean;
  /** When the error is raised. */
  readonly description: string;
}

/**
 * The one error catalog of diffda's RPCs, used by servers and clients alike. Each stable code travels as
 * the `reason` of a google.rpc.ErrorInfo (domain "diffda") in the `grpc-status-details-bin` trailer,
 * beside the gRPC status, so a thrown `RpcError` reaches the client with the same code and message.
 * Each gRPC status has one generic code (named after it), used when a status arrives without ErrorInfo
 * (from grpc-js itself, a proxy or a foreign server). Codes are never renamed; add new ones instead.
 * The gateway maps these codes to its problem+json types.
 */
export const errorCatalog = {
  // Specific codes raised by diffda services.
  invalid_field: {
    grpcCode: GrpcCode.INVALID_ARGUMENT,
    retryable: false,
    description: "a request field is missing or out of range; details.field names it",
  },
  invalid_image: {
    grpcCode: GrpcCode.INVALID_ARGUMENT,
    retryable: false,
    description: "an image cannot be decoded or breaks the size, pixel-count or format limits",
  },
  invalid_stream: {
    grpcCode: GrpcCode.INVALID_ARGUMENT,
    retryable: false,
    description: "an upload stream broke its protocol: header not first, chunk out of order, wrong count",
  },
  checksum_mismatch: {
    grpcCode: GrpcCode.DATA_LOSS,
    retryable: false,
    description: "the sha256 of an image or artifact does not match its bytes",
  },
  model_not_found: {
    grpcCode: GrpcCode.NOT_FOUND,
    retryable: false,
    description: "a ModelRef names no model configured on the server",
  },
  not_ready: {
    grpcCode: GrpcCode.UNAVAILABLE,
    retryable: true,
    description: "the server is still starting (loading its models)",
  },
  shutting_down: {
    grpcCode: GrpcCode.UNAVAILABLE,
    retryable: true,
    description: "the server is draining; the call was refused or aborted after the grace period",
  },
  invalid_token: {
    grpcCode: GrpcCode.UNAUTHENTICATED,
    retryable: false,
    description:
      "the server requires a shared token and the call carries none (`authorization: Bearer <token>`) or the wrong one",
  },
  // One generic code per gRPC status.
  cancelled: { grpcCode: GrpcCode.CANCELLED, retryable: false, description: "the caller cancelled the call" },
  unknown: { grpcCode: GrpcCode.UNKNOWN, retryable: false, description: "an error of unknown origin" },
  invalid_argument: {
    grpcCode: GrpcCode.INVALID_ARGUMENT,
    retryable: false,
    description: "the request is malformed (e.g. it does not decode)",
  },
  deadline_exceeded: {
    grpcCode: GrpcCode.DEADLINE_EXCEEDED,
    retryable: true,
    description: "the call's deadline passed before it completed",
  },
  not_found: { grpcCode: GrpcCode.NOT_FOUND, retryable: false, description: "a named entity does not exist" },
  already_exists: {
    grpcCode: GrpcCode.ALREADY_EXISTS,
    retryable: false,
    description: "the entity to create already exists",
  },
  permission_denied: {
    grpcCode: GrpcCode.PERMISSION_DENIED,
    retryable: false,
    description: "the caller may not do this",
  },
  resource_exhausted: {
    grpcCode: GrpcCode.RESOURCE_EXHAUSTED,
    retryable: false,
    description: "a limit was hit, e.g. a message over the configured size limit",
  },
  failed_precondition: {
    grpcCode: GrpcCode.FAILED_PRECONDITION,
    retryable: false,
    description: "the system is not in a state that allows the call",
  },
  aborted: {
    grpcCode: GrpcCode.ABORTED,
    retryable: true,
    description: "the call lost a concurrency conflict",
  },
  out_of_range: {
    grpcCode: GrpcCode.OUT_OF_RANGE,
    retryable: false,
    description: "a value is past the valid range (e.g. a sample index beyond a shard)",
  },
  unimplemented: {
    grpcCode: GrpcCode.UNIMPLEMENTED,
    retryable: false,
    description: "the method, or an option of the request (e.g. a scheduler), is not implemented here",
  },
  internal: {
    grpcCode: GrpcCode.INTERNAL,
    retryable: false,
    description: "a bug or an unexpected failure on the server",
  },
  unavailable: {
    grpcCode: GrpcCode.UNAVAILABLE,
    retryable: true,
    description: "the server cannot be reached or refused the connection",
  },
  data_loss: { grpcCode: GrpcCode.DATA_LOSS, retryable: false, description: "data was lost or corrupted" },
  unauthenticated: {
    grpcCode: GrpcCode.UNAUTHENTICATED,
    retryable: false,
    description: "the caller did not prove who it is",
  },
} as const satisfies Record<string, CatalogEntry>;

/** A stable error code of the catalog, e.g. "invalid_field". */
export type ErrorCode = keyof typeof errorCatalog;

const GENERIC: Readonly<Record<number, ErrorCode>> = {
  [GrpcCode.CANCELLED]: "cancelled",
  [GrpcCode.UNKNOWN]: "unknown",
  [GrpcCode.INVALID_ARGUMENT]: "invalid_argument",
  [GrpcCode.DEADLINE_EXCEEDED]: "deadline_exceeded",
  [GrpcCode.NOT_FOUND]: "not_found",
  [GrpcCode.ALREADY_EXISTS]: "already_exists",
  [GrpcCode.PERMISSION_DENIED]: "permission_denied",
  [GrpcCode.RESOURCE_EXHAUSTED]: "resource_exhausted",
  [GrpcCode.FAILED_PRECONDITION]: "failed_precondition",
  [GrpcCode.ABORTED]: "aborted",
  [GrpcCode.OUT_OF_RANGE]: "out_of_range",
  [GrpcCode.UNIMPLEMENTED]: "unimplemented",
  [GrpcCode.INTERNAL]: "internal",
  [GrpcCode.UNAVAILABLE]: "unavailable",
  [GrpcCode.DATA_LOSS]: "data_loss",
  [GrpcCode.UNAUTHENTICATED]: "unauthenticated",
};

/** Whether `value` is a code of the catalog. */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === "string" && Object.hasOwn(errorCatalog, value);
}

/** The generic catalog code of a gRPC status (e.g. 14 → "unavailable"); "unknown" for OK or unknown numbers. */
export function genericErrorCode(grpcCode: number): ErrorCode {
  return GENERIC[grpcCode] ?? "unknown";
}
