import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { anyIs, anyPack, anyUnpack } from "@bufbuild/protobuf/wkt";
import { ErrorInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "../gen/google/rpc/status_pb.js";

/** Trailer carrying a binary google.rpc.Status with typed error details (the gRPC rich error model). */
export const STATUS_DETAILS_KEY = "grpc-status-details-bin";

/** The google.rpc.ErrorInfo domain of diffda's error codes. */
export const ERROR_DOMAIN = "diffda";

/** What travels in the details trailer besides the status code and message. */
export interface ErrorInfo {
  /** The catalog code (ErrorInfo.reason). */
  readonly reason: string;
  /** Structured details (ErrorInfo.metadata). */
  readonly metadata: Readonly<Record<string, string>>;
}

/**
 * Encodes a google.rpc.Status holding one diffda ErrorInfo. Standard clients (connect-es, grpcurl, other
 * languages) can read the reason and details from it; diffda's client turns it back into an RpcError.
 */
export function encodeStatusDetails(grpcCode: number, message: string, info: ErrorInfo): Uint8Array {
  const errorInfo = create(ErrorInfoSchema, {
    reason: info.reason,
    domain: ERROR_DOMAIN,
    metadata: { ...info.metadata },
  });
  return toBinary(
    StatusSchema,
    create(StatusSchema, { code: grpcCode, message, details: [anyPack(ErrorInfoSchema, errorInfo)] }),
  );
}

/** The diffda ErrorInfo inside an encoded google.rpc.Status, or `undefined` when there is none or it does not decode. */
export function decodeStatusDetails(bytes: Uint8Array): ErrorInfo | undefined {
  try {
    const status = fromBinary(StatusSchema, bytes);
    for (const detail of status.details) {
      if (!anyIs(detail, ErrorInfoSchema)) continue;
      const info = anyUnpack(detail, ErrorInfoSchema);
      if (info?.domain === ERROR_DOMAIN) return { reason: info.reason, metadata: { ...info.metadata } };
    }
  } catch {
    // A malformed trailer is treated like a missing one: the status code still tells what happened.
  }
  return undefined;
}
