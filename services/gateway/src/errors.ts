/**
 * The gateway's one error catalog. Every error response is `application/problem+json` (RFC 9457) with a
 * stable `code` from {@link API_ERRORS}; fastify's own errors (validation, body limit, bad JSON), the
 * store's {@link StoreError}, shared/data's {@link DataError} and shared/rpc's {@link RpcError} all map
 * through {@link toProblem}. Codes are part of the API: add new ones, never rename or reuse them.
 * docs/api.md lists the same table (a test keeps the two equal).
 */
import { DataError, type DataErrorCode } from "../../../shared/data/index.js";
import { RpcError } from "../../../shared/rpc/index.js";
import { BlobStoreUnavailableError } from "./blob-store.js";
import { StoreError, type StoreErrorCode } from "./store/index.js";

/** Every error code the REST API answers with: its HTTP status, a title, and when it happens. */
export const API_ERRORS = {
  validation_failed: {
    status: 400,
    title: "Validation failed",
    description: "the request does not match the route's schema; `errors[]` names each field",
  },
  malformed_body: {
    status: 400,
    title: "Malformed body",
    description: "the body is not valid JSON, is empty, or its length does not match Content-Length",
  },
  malformed_request: {
    status: 400,
    title: "Malformed request",
    description:
      "the HTTP parser cannot read the request line, a header or the body's framing (answered with `Connection: close`)",
  },
  malformed_url: {
    status: 400,
    title: "Malformed URL",
    description: "the URL path holds malformed percent-encoding",
  },
  invalid_cursor: {
    status: 400,
    title: "Invalid cursor",
    description: "a pagination cursor was not made by this API",
  },
  idempotency_key_missing: {
    status: 400,
    title: "Idempotency-Key missing",
    description: "every POST needs an `Idempotency-Key` header (1–255 visible ASCII characters)",
  },
  archive_unsafe_path: {
    status: 400,
    title: "Unsafe archive entry",
    description:
      "an archive entry is absolute, has `..`, `.` or empty parts, a backslash, a drive letter, control characters, or is a symlink, hard link, device or FIFO",
  },
  archive_invalid: {
    status: 400,
    title: "Invalid archive",
    description:
      "the body is not a readable zip, tar or tar.gz (truncated, encrypted, ZIP64, unknown compression or tar entry type, bad checksum, a local header that disagrees with the central directory, overlapping entries, names repeated or differing only by case, bytes of another archive type than the Content-Type names) or not one folder per class",
  },
  unauthorized: {
    status: 401,
    title: "Unauthorized",
    description: "no `Authorization: Bearer dda_…` header, or the key is unknown, malformed or revoked",
  },
  forbidden: {
    status: 403,
    title: "Forbidden",
    description: "the API key lacks the scope the route needs (`submit`, `read` or `admin`)",
  },
  not_found: {
    status: 404,
    title: "Not found",
    description: "no such route, or no such dataset, job, artifact or key visible to this key",
  },
  request_timeout: {
    status: 408,
    title: "Request timeout",
    description:
      "the headers or the whole request took too long, or the body sent nothing for `HTTP_BODY_IDLE_TIMEOUT_MS` (answered with `Connection: close`)",
  },
  conflict: { status: 409, title: "Conflict", description: "a resource with this id already exists" },
  idempotency_in_flight: {
    status: 409,
    title: "Request in flight",
    description: "a request with the same Idempotency-Key is still being handled; retry later",
  },
  job_not_cancellable: {
    status: 409,
    title: "Job not cancellable",
    description: "the job already finished (succeeded, failed or cancelled)",
  },
  job_not_finished: {
    status: 409,
    title: "Job not finished",
    description: "a queued or running job cannot be deleted: cancel it first",
  },
  dataset_in_use: {
    status: 409,
    title: "Dataset in use",
    description:
      "a queued or running job reads this dataset (the detail names up to five); delete it when they finish",
  },
  adapter_in_use: {
    status: 409,
    title: "Adapter in use",
    description:
      "a queued or running job applies this adapter (the detail names up to five); delete it when they finish",
  },
  payload_too_large: {
    status: 413,
    title: "Payload too large",
    description: "the body, one file, or the upload in all exceeds its byte limit",
  },
  too_many_files: {
    status: 413,
    title: "Too many files",
    description: "the upload holds more files than allowed",
  },
  image_too_large: {
    status: 413,
    title: "Image too large",
    description: "an image declares more pixels or a longer side than allowed (checked before decoding)",
  },
  archive_bomb: {
    status: 413,
    title: "Archive bomb",
    description:
      "an archive declares or inflates to more bytes than allowed, or compresses better than the ratio cap",
  },
  uri_too_long: {
    status: 414,
    title: "URI too long",
    description: "a path parameter is longer than the router accepts (100 characters)",
  },
  unsupported_media_type: {
    status: 415,
    title: "Unsupported media type",
    description:
      "the Content-Type is not one the route accepts (the detail and Accept-Post list those it does)",
  },
  unsupported_format: {
    status: 415,
    title: "Unsupported image format",
    description: "an image is not PNG, JPEG or WebP by its magic bytes (file names are not trusted)",
  },
  expectation_failed: {
    status: 417,
    title: "Expectation failed",
    description: "the `Expect` header asks for something other than `100-continue`",
  },
  link_unavailable: {
    status: 422,
    title: "No signed link",
    description:
      "`?link=true` asks for a signed download URL, which only the S3 artifact store gives; download the file from the gateway instead",
  },
  idempotency_mismatch: {
    status: 422,
    title: "Idempotency-Key reused",
    description: "the Idempotency-Key was used before by this principal with a different payload or route",
  },
  corrupt_image: {
    status: 422,
    title: "Corrupt image",
    description: "an image header or its pixels cannot be decoded",
  },
  invalid_dataset: {
    status: 422,
    title: "Invalid dataset",
    description:
      "the images do not make a usable dataset: an empty class, too many classes, no test images, too few images for the shots asked, test classes that training lacks, entries outside `train/` and `test/` in an archive that has them, `promptNames` for a class the dataset lacks",
  },
  invalid_adapter: {
    status: 422,
    title: "Invalid adapter",
    description:
      "the adapter file is not sound safetensors, or does not fit the model it names: `errors[]` names the first bad key (with expected and found shapes)",
  },
  invalid_job_spec: {
    status: 422,
    title: "Invalid job spec",
    description:
      "the job is well-formed but inconsistent: a parameter that its component does not take, an unknown class, a plan over the limits; `errors[]` names each field",
  },
  webhook_url_forbidden: {
    status: 422,
    title: "Webhook URL forbidden",
    description:
      "the webhook URL is not https, holds credentials, or names a loopback, private, link-local or otherwise non-public address or host (unless the gateway allows them)",
  },
  webhook_secret_missing: {
    status: 422,
    title: "Webhook secret missing",
    description:
      "a job with a webhook needs this key's signing secret: create it once with `POST /v1/webhook-secret`",
  },
  rate_limited: {
    status: 429,
    title: "Rate limited",
    description: "the API key used up its requests per minute; see `Retry-After`",
  },
  auth_throttled: {
    status: 429,
    title: "Too many failed authentications",
    description:
      "this client address failed to authenticate too often; it may present a key again after `Retry-After`",
  },
  headers_too_large: {
    status: 431,
    title: "Request headers too large",
    description:
      "the request line and headers together pass the server's limit (16 KiB; a long URL counts too)",
  },
  internal: { status: 500, title: "Internal error", description: "a bug or an unexpected failure" },
  upstream_error: {
    status: 502,
    title: "Upstream error",
    description: "a compute service answered with an error that is not the caller's fault",
  },
  unavailable: {
    status: 503,
    title: "Unavailable",
    description: "the gateway is starting or draining, or its store or a compute service is unreachable",
  },
  uploads_busy: {
    status: 503,
    title: "Too many uploads",
    description:
      "`UPLOAD_MAX_IN_FLIGHT` dataset uploads are already being received or processed; retry after `Retry-After` seconds",
  },
} as const satisfies Record<string, { status: number; title: string; description: string }>;

/** A stable error code of the REST API. */
export type ApiErrorCode = keyof typeof API_ERRORS;

/** Media type of every error body. */
export const PROBLEM_CONTENT_TYPE = "application/problem+json";

/** One field-level issue of a `validation_failed` or `invalid_job_spec` problem. */
export interface FieldIssue {
  /** JSON Pointer into the request part, prefixed by the part: `/body/methods/0/strength`, `/query/limit`. */
  field: string;
  message: string;
}

/** An RFC 9457 problem document as this API sends it. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ApiErrorCode;
  instance?: string;
  errors?: FieldIssue[];
}

/** The `type` URI of a code: a URN, so that it never pretends to be a page that may move. */
function problemType(code: ApiErrorCode): string {
  return `urn:diffda:problem:${code}`;
}

/** Options of {@link ApiError}. */
export interface ApiErrorOptions {
  errors?: FieldIssue[];
  /** Headers to send with the problem (`Retry-After`, `WWW-Authenticate`). */
  headers?: Record<string, string>;
  cause?: unknown;
}

/** What route handlers and plugins throw for a request they refuse. */
export class ApiError extends Error {
  override readonly name = "ApiError";
  readonly code: ApiErrorCode;
  readonly status: number;
  readonly errors: FieldIssue[] | undefined;
  readonly headers: Readonly<Record<string, string>>;

  constructor(code: ApiErrorCode, detail?: string, options: ApiErrorOptions = {}) {
    super(detail ?? API_ERRORS[code].description, { cause: options.cause });
    this.code = code;
    this.status = API_ERRORS[code].status;
    this.errors = options.errors;
    this.headers = { ...options.headers };
  }
}

const STORE_CODES: Record<StoreErrorCode, ApiErrorCode> = {
  not_found: "not_found",
  invalid_dag: "internal", // the planner built a bad graph: our bug, not the caller's
  invalid_cursor: "invalid_cursor",
  invalid_argument: "validation_failed",
  conflict: "conflict",
  migration_checksum: "internal",
};

const DATA_CODES: Record<DataErrorCode, ApiErrorCode> = {
  invalid_argument: "validation_failed",
  invalid_name: "archive_unsafe_path",
  invalid_layout: "archive_invalid",
  mixed_layout: "invalid_dataset",
  unsupported_format: "unsupported_format",
  corrupt_image: "corrupt_image",
  image_too_large: "image_too_large",
  file_too_large: "payload_too_large",
  total_too_large: "payload_too_large",
  too_many_files: "too_many_files",
  too_many_classes: "invalid_dataset",
  empty_class: "invalid_dataset",
  empty_dataset: "invalid_dataset",
  not_enough_images: "invalid_dataset",
  unknown_dataset: "not_found",
  dataset_source_missing: "internal",
};

/** Fastify's own error codes that are the caller's fault. */
const FASTIFY_CODES: Record<string, ApiErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: "payload_too_large",
  FST_ERR_CTP_INVALID_MEDIA_TYPE: "unsupported_media_type",
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: "malformed_body",
  FST_ERR_CTP_EMPTY_JSON_BODY: "malformed_body",
  FST_ERR_CTP_INVALID_JSON_BODY: "malformed_body",
  FST_ERR_NOT_FOUND: "not_found",
  FST_ERR_BAD_URL: "malformed_url",
  FST_ERR_MAX_PARAM_LENGTH: "uri_too_long",
};

/** An ajv error as fastify attaches it to a validation error. */
interface AjvIssue {
  instancePath: string;
  keyword: string;
  params?: Record<string, unknown>;
  message?: string;
}

const PARTS: Record<string, string> = {
  body: "/body",
  querystring: "/query",
  params: "/params",
  headers: "/headers",
};

/** Field issues from fastify's validation error, pointing at the offending field (not its parent). */
function validationIssues(error: { validation: AjvIssue[]; validationContext?: string }): FieldIssue[] {
  const prefix = PARTS[error.validationContext ?? "body"] ?? "/body";
  // "must match then/else schema" only repeats the errors found inside the branch.
  return error.validation
    .filter((issue) => issue.keyword !== "if")
    .map((issue) => {
      let path = issue.instancePath;
      let message = issue.message ?? issue.keyword;
      const params = issue.params ?? {};
      if (issue.keyword === "required" && typeof params.missingProperty === "string") {
        path += `/${params.missingProperty}`;
        message = "is required";
      } else if (issue.keyword === "additionalProperties" && typeof params.additionalProperty === "string") {
        path += `/${params.additionalProperty}`;
        message = "is not a known field";
      } else if (issue.keyword === "enum" && Array.isArray(params.allowedValues)) {
        message = `must be one of ${params.allowedValues.map((v) => JSON.stringify(v)).join(", ")}`;
      }
      return { field: prefix + path, message };
    });
}

/** Turns anything thrown while handling a request into an {@link ApiError}. */
export function toApiError(thrown: unknown): ApiError {
  if (thrown instanceof ApiError) return thrown;
  if (thrown instanceof StoreError)
    return new ApiError(STORE_CODES[thrown.code], thrown.message, { cause: thrown });
  if (thrown instanceof DataError) {
    const code = DATA_CODES[thrown.code];
    const name = thrown.details.name;
    return new ApiError(code, thrown.message, {
      cause: thrown,
      errors:
        typeof name === "string"
          ? [{ field: "/body", message: `entry ${JSON.stringify(name)}: ${thrown.code}` }]
          : undefined,
    });
  }
  if (thrown instanceof BlobStoreUnavailableError) {
    return new ApiError("unavailable", "the artifact store is unreachable; retry later", { cause: thrown });
  }
  if (thrown instanceof RpcError) {
    return new ApiError(thrown.retryable ? "unavailable" : "upstream_error", thrown.message, {
      cause: thrown,
    });
  }
  const e = thrown as { code?: unknown; validation?: unknown; statusCode?: unknown; message?: unknown };
  if (typeof e === "object" && e !== null) {
    if (Array.isArray(e.validation)) {
      const issues = validationIssues(e as { validation: AjvIssue[]; validationContext?: string });
      return new ApiError("validation_failed", `${issues.length} invalid field(s): ${issues[0]?.field}`, {
        errors: issues,
        cause: thrown,
      });
    }
    if (typeof e.code === "string" && e.code in FASTIFY_CODES) {
      return new ApiError(FASTIFY_CODES[e.code], String(e.message), { cause: thrown });
    }
  }
  return new ApiError("internal", "an unexpected error occurred", { cause: thrown });
}

/** The problem document of an error, for the request at `instance`. */
export function toProblem(error: ApiError, instance?: string): Problem {
  return {
    type: problemType(error.code),
    title: API_ERRORS[error.code].title,
    status: error.status,
    detail: error.message,
    code: error.code,
    ...(instance !== undefined ? { instance } : {}),
    ...(error.errors !== undefined ? { errors: error.errors } : {}),
  };
}
