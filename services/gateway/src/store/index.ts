/**
 * The gateway's job store: datasets, jobs and their task DAGs with leases, events, artifact metadata,
 * idempotency keys, API keys and their rate-limit buckets, webhook deliveries, in PostgreSQL (PGlite embedded, or a server
 * via DATABASE_URL).
 * See docs/jobs.md for the schema and the lease, retry and backoff rules.
 */
export { type AdapterDeleteOutcome, AdapterRepository, type NewAdapter } from "./adapters.js";
export { ApiKeyRepository, type NewApiKey } from "./api-keys.js";
export { ArtifactRepository, type NewArtifact } from "./artifacts.js";
export { BlobRepository, type StorageUsage } from "./blobs.js";
export { decodeCursor, encodeCursor, pageOfList } from "./cursor.js";
export { validateDag } from "./dag.js";
export {
  type DatasetDeleteOutcome,
  DatasetRepository,
  type NewDataset,
  type StoredBlobRef,
} from "./datasets.js";
export {
  type Database,
  json,
  parseInt8,
  type Queryable,
  type QueryResult,
  type Row,
  sqlState,
} from "./driver.js";
export { STORE_ERROR_CODES, StoreError, type StoreErrorCode } from "./errors.js";
export { EventRepository } from "./events.js";
export {
  type IdempotencyBegin,
  type IdempotencyOptions,
  IdempotencyRepository,
  type StoredResponse,
} from "./idempotency.js";
export {
  type CancelOutcome,
  type JobDeleteOutcome,
  JobRepository,
  type ListJobsOptions,
  type NewJob,
  type NewTask,
} from "./jobs.js";
export { type MigrateResult, migrate } from "./migrate.js";
export { MIGRATIONS, type Migration } from "./migrations/index.js";
export { type DatabaseConfig, DEFAULT_DATA_DIR, databaseConfigFromEnv, openDatabase } from "./open.js";
export { openPostgres, type PostgresOptions } from "./pg-driver.js";
export { openPglite, type PgliteOptions } from "./pglite-driver.js";
export { RateLimitRepository, type TakeResult } from "./rate-limits.js";
export {
  DEFAULT_RETRY_BUDGET,
  DEFAULT_RETRY_POLICY,
  type RetryBudget,
  type RetryPolicy,
} from "./retry-policy.js";
export { JobStore, type JobStoreOptions, openJobStore } from "./store.js";
export {
  type CompleteOutcome,
  type FailOptions,
  type FailOutcome,
  type QueueDepth,
  type ReclaimResult,
  TaskRepository,
} from "./tasks.js";
export type * from "./types.js";
export { WebhookSecretRepository } from "./webhook-secrets.js";
export {
  type DeliveryFailureOutcome,
  type DeliveryLease,
  type DeliveryState,
  type LeasedDelivery,
  WEBHOOK_EVENTS,
  type WebhookDelivery,
  WebhookRepository,
} from "./webhooks.js";
