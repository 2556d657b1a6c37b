/**
 * One example per operation for the OpenAPI document, recorded from a real run of the gateway over fake
 * compute (`npm run openapi:examples` rewrites examples.json): real requests and the answers they got,
 * so the examples are what the server sends. A test checks every example against its schema.
 */
import recorded from "./examples.json" with { type: "json" };

/** What was sent to and answered by one operation. */
export interface OperationExample {
  /** Path parameters of the request (`*` for an artifact key). */
  params?: Record<string, unknown>;
  /** Query parameters. */
  query?: Record<string, unknown>;
  /** The JSON body sent. */
  request?: unknown;
  /** Status and media type of the answer, and the answer (JSON, or text for text answers). */
  status?: number;
  mediaType?: string;
  response?: unknown;
}

/** Examples by operationId. */
export const OPERATION_EXAMPLES: Readonly<Record<string, OperationExample>> = recorded as Record<
  string,
  OperationExample
>;
