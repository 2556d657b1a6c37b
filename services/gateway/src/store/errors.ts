/**
 * One error type for what the store refuses, with stable codes the REST layer maps to problem+json.
 * Codes are part of the API: add new ones, never rename or reuse them. Database failures (connection
 * lost, constraint bugs) are not wrapped: they are 5xx and keep the driver's error.
 */

/** Every code a {@link StoreError} can carry, with the HTTP status it suggests. */
export const STORE_ERROR_CODES = {
  not_found: { status: 404, description: "no row with this id" },
  invalid_dag: {
    status: 400,
    description: "a job's tasks are empty, have duplicate keys, unknown dependencies or a cycle",
  },
  invalid_cursor: { status: 400, description: "a pagination cursor was not made by this store" },
  invalid_argument: {
    status: 400,
    description: "an argument is out of range, malformed, or names a dataset or API key that does not exist",
  },
  conflict: { status: 409, description: "a row with this id already exists" },
  migration_checksum: {
    status: 500,
    description: "an applied migration differs from the code's copy (edited after release)",
  },
} as const satisfies Record<string, { status: number; description: string }>;

/** A stable machine-readable reason for a {@link StoreError}. */
export type StoreErrorCode = keyof typeof STORE_ERROR_CODES;

/** What the store throws for a request it refuses. */
export class StoreError extends Error {
  override readonly name = "StoreError";

  constructor(
    readonly code: StoreErrorCode,
    message: string,
  ) {
    super(message);
  }
}
