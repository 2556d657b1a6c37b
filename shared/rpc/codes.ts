/**
 * gRPC status codes (grpc/grpc doc/statuscodes.md). Same numbers as `@grpc/grpc-js`'s `status`, declared
 * here so that the public API of shared/rpc does not expose grpc-js types.
 */
export const GrpcCode = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

/** A gRPC status code number. */
export type GrpcCode = (typeof GrpcCode)[keyof typeof GrpcCode];

const NAMES = new Map<number, string>(Object.entries(GrpcCode).map(([name, code]) => [code, name]));

/** The name of a gRPC status code ("INVALID_ARGUMENT"), or "UNKNOWN" for a number outside the table. */
export function grpcCodeName(code: number): string {
  return NAMES.get(code) ?? "UNKNOWN";
}

/** Whether `value` is one of the 17 gRPC status codes. */
export function isGrpcCode(value: unknown): value is GrpcCode {
  return typeof value === "number" && NAMES.has(value);
}
