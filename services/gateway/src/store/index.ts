/**
 * The gateway's job store: datasets, jobs and their task DAGs with leases, events, artifact metadata,
 * idempotency keys, API keys and their rate-limit buckets, webhook deliveries, in PostgreSQL (PGlite embedded, or a server
 * via DATABASE_URL).
 * See docs/jobs.md for the schema and the lease, retry and backoff rules.
 */
export { ApiKeyRepository } from "./api-keys.js";
export { pageOfList } from "./cursor.js";
export { validateDag } from "./dag.js";
export { DatasetRepository } from "./datasets.js";
export type { Database } from "./driver.js";
export { STORE_ERROR_CODES, StoreError, type StoreErrorCode } from "./errors.js";
export { IdempotencyRepository } from "./idempotency.js";
export type { NewTask } from "./jobs.js";
export { migrate } from "./migrate.js";
export { MIGRATIONS } from "./migrations/index.js";
export { databaseConfigFromEnv } from "./open.js";
export { openPglite } from "./pglite-driver.js";
export { RateLimitRepository, type TakeResult } from "./rate-limits.js";
export { JobStore, openJobStore } from "./store.js";
export {
  type QueueDepth,
  TaskRepository,
} from "./tasks.js";
export type * from "./types.js";
export {
  type LeasedDelivery,
  type WebhookDelivery,
  WebhookRepository,
} from "./webhooks.js";
