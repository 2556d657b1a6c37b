/**
 * The job store: one object bundling a database handle and its repositories, so the gateway opens,
 * migrates and closes one thing. Services take only the repositories they use (and tests fake those).
 */
import { AdapterRepository } from "./adapters.js";
import { ApiKeyRepository } from "./api-keys.js";
import { ArtifactRepository } from "./artifacts.js";
import { BlobRepository } from "./blobs.js";
import { DatasetRepository } from "./datasets.js";
import type { Database } from "./driver.js";
import { EventRepository } from "./events.js";
import { type IdempotencyOptions, IdempotencyRepository } from "./idempotency.js";
import { JobRepository } from "./jobs.js";
import { migrate } from "./migrate.js";
import { type DatabaseConfig, openDatabase } from "./open.js";
import { RateLimitRepository } from "./rate-limits.js";
import type { RetryBudget, RetryPolicy } from "./retry-policy.js";
import { TaskRepository } from "./tasks.js";
import { WebhookSecretRepository } from "./webhook-secrets.js";
import { WebhookRepository } from "./webhooks.js";

/** Tunables of the store. */
export interface JobStoreOptions {
  /** Backoff after retryable failures and expired leases. Default {@link DEFAULT_RETRY_POLICY}. */
  retry?: RetryPolicy;
  /** How long infrastructure failures and how many lost leases a task survives. Default {@link DEFAULT_RETRY_BUDGET}. */
  budget?: RetryBudget;
  /** Attempts per task when the job does not say. Default 3. */
  defaultMaxAttempts?: number;
  idempotency?: IdempotencyOptions;
  /** At most one `job.progress` webhook delivery per job per this long. Default 10 s. */
  webhookProgressIntervalMs?: number;
}

/** Every repository over one database. */
export class JobStore {
  readonly adapters: AdapterRepository;
  readonly datasets: DatasetRepository;
  readonly jobs: JobRepository;
  readonly tasks: TaskRepository;
  readonly events: EventRepository;
  readonly artifacts: ArtifactRepository;
  readonly idempotency: IdempotencyRepository;
  readonly apiKeys: ApiKeyRepository;
  readonly rateLimits: RateLimitRepository;
  readonly blobs: BlobRepository;
  readonly webhooks: WebhookRepository;
  readonly webhookSecrets: WebhookSecretRepository;

  constructor(
    readonly db: Database,
    options: JobStoreOptions = {},
  ) {
    this.adapters = new AdapterRepository(db);
    this.datasets = new DatasetRepository(db);
    this.jobs = new JobRepository(db, options);
    this.tasks = new TaskRepository(db, options);
    this.events = new EventRepository(db, options);
    this.artifacts = new ArtifactRepository(db);
    this.idempotency = new IdempotencyRepository(db, options.idempotency);
    this.apiKeys = new ApiKeyRepository(db);
    this.rateLimits = new RateLimitRepository(db);
    this.blobs = new BlobRepository(db);
    this.webhooks = new WebhookRepository(db);
    this.webhookSecrets = new WebhookSecretRepository(db);
  }

  /** Closes the database. */
  close(): Promise<void> {
    return this.db.close();
  }
}

/** Opens the configured database, brings its schema up to date and returns the store over it. */
export async function openJobStore(config: DatabaseConfig, options: JobStoreOptions = {}): Promise<JobStore> {
  const db = await openDatabase(config);
  try {
    await migrate(db);
  } catch (error) {
    await db.close();
    throw error;
  }
  return new JobStore(db, options);
}
