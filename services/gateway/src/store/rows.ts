/** Column lists and row → record mappers, so every query returns the same shapes. */
import type {
  ApiKey,
  Artifact,
  Dataset,
  Job,
  JobEvent,
  JobState,
  JobWebhook,
  Task,
  TaskState,
} from "./types.js";

/** Columns of `jobs` (alias-free). */
export const JOB_COLUMNS =
  "id, state, spec, dataset_id, api_key_id, result, error, webhook, created_at, updated_at, started_at, finished_at";

/** Columns of `tasks` aliased `t`, with the dependency keys in submission order. */
export const TASK_COLUMNS = `t.id, t.job_id, t.key, t.kind, t.position, t.state, t.attempts, t.max_attempts,
  t.lease_losses, t.infra_failures, t.retry_deadline, t.run_after, t.lease_owner, t.lease_expires_at, t.heartbeat_at, t.input, t.output, t.error,
  t.created_at, t.updated_at, t.started_at, t.finished_at,
  array(select dep.key from task_dependencies d join tasks dep on dep.id = d.depends_on
        where d.task_id = t.id order by dep.position) as depends_on`;

/** Columns of `datasets`. */
export const DATASET_COLUMNS = "id, name, kind, spec, image_count, classes, api_key_id, created_at";

/** Columns of `artifacts`. */
export const ARTIFACT_COLUMNS = "job_id, key, kind, sha256, bytes, path, meta, created_at";

/** Columns of `api_keys` that may leave the store (not the hash). */
export const API_KEY_COLUMNS = "id, name, scopes, rate_limit_per_minute, created_at, revoked_at";

/** Columns of `job_events`. */
export const EVENT_COLUMNS = "id, job_id, type, data, created_at";

// Rows arrive as Record<string, unknown> with driver-normalised values (see driver.ts); the casts below
// restate the column types the schema guarantees.
type R = Record<string, unknown>;

export function toJob(row: R): Job {
  return {
    id: row.id as string,
    state: row.state as JobState,
    spec: row.spec,
    datasetId: row.dataset_id as string | null,
    apiKeyId: row.api_key_id as string | null,
    result: row.result ?? null,
    error: row.error ?? null,
    webhook: (row.webhook as JobWebhook | null) ?? null,
    createdAt: row.created_at as Date,
    updatedAt: row.updated_at as Date,
    startedAt: row.started_at as Date | null,
    finishedAt: row.finished_at as Date | null,
  };
}

export function toTask(row: R): Task {
  return {
    id: row.id as string,
    jobId: row.job_id as string,
    key: row.key as string,
    kind: row.kind as string,
    position: row.position as number,
    state: row.state as TaskState,
    attempts: row.attempts as number,
    maxAttempts: row.max_attempts as number,
    leaseLosses: row.lease_losses as number,
    infraFailures: row.infra_failures as number,
    retryDeadline: row.retry_deadline as Date | null,
    runAfter: row.run_after as Date,
    leaseOwner: row.lease_owner as string | null,
    leaseExpiresAt: row.lease_expires_at as Date | null,
    heartbeatAt: row.heartbeat_at as Date | null,
    input: row.input,
    output: row.output ?? null,
    error: row.error ?? null,
    dependsOn: row.depends_on as string[],
    createdAt: row.created_at as Date,
    updatedAt: row.updated_at as Date,
    startedAt: row.started_at as Date | null,
    finishedAt: row.finished_at as Date | null,
  };
}

export function toDataset(row: R): Dataset {
  return {
    id: row.id as string,
    name: row.name as string,
    kind: row.kind as Dataset["kind"],
    spec: row.spec,
    imageCount: row.image_count as number,
    classes: row.classes as string[],
    apiKeyId: row.api_key_id as string | null,
    createdAt: row.created_at as Date,
  };
}

export function toArtifact(row: R): Artifact {
  return {
    jobId: row.job_id as string,
    key: row.key as string,
    kind: row.kind as string,
    sha256: row.sha256 as string,
    bytes: row.bytes as number,
    path: row.path as string,
    meta: row.meta,
    createdAt: row.created_at as Date,
  };
}

export function toApiKey(row: R): ApiKey {
  return {
    id: row.id as string,
    name: row.name as string,
    scopes: row.scopes as string[],
    rateLimitPerMinute: row.rate_limit_per_minute as number | null,
    createdAt: row.created_at as Date,
    revokedAt: row.revoked_at as Date | null,
  };
}

export function toEvent(row: R): JobEvent {
  return {
    id: row.id as number,
    jobId: row.job_id as string,
    type: row.type as string,
    data: row.data,
    createdAt: row.created_at as Date,
  };
}
