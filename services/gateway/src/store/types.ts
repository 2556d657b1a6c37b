/**
 * The store's records as the rest of the gateway sees them: camelCase, Dates, numbers. JSON documents
 * (specs, inputs, outputs, errors, metadata) are `unknown`: the store keeps whatever JSON-serialisable
 * value it was given; validating their shape is the REST layer's and the orchestrator's job.
 */

/** Lifecycle of a job; the last three are final. */
export type JobState = "queued" | "running" | "succeeded" | "failed" | "cancelled";

/** Lifecycle of a task; the last three are final. */
export type TaskState = "pending" | "running" | "succeeded" | "failed" | "cancelled";

/** A set of labelled images jobs run on. */
export interface Dataset {
  id: string;
  name: string;
  kind: "builtin" | "upload";
  spec: unknown;
  imageCount: number;
  classes: string[];
  apiKeyId: string | null;
  createdAt: Date;
}

/** An adapter file kept as a resource: what it is, which model it fits, where its bytes are. */
export interface Adapter {
  id: string;
  apiKeyId: string | null;
  name: string;
  kind: "lora" | "textual_inversion";
  /** The model id it was checked against (and only applies to). */
  baseModel: string;
  /** Digest of the safetensors file in the artifact store. */
  sha256: string;
  bytes: number;
  /** Textual inversion: the placeholder tokens the file defines. */
  tokens: string[];
  /** LoRA: rank and alpha (0: the file's own). */
  loraRank: number;
  loraAlpha: number;
  /** The job that trained it; null for uploads. */
  sourceJobId: string | null;
  createdAt: Date;
}

/** A submitted run. */
export interface Job {
  id: string;
  state: JobState;
  spec: unknown;
  datasetId: string | null;
  apiKeyId: string | null;
  result: unknown;
  error: unknown;
  /** Where the job's events are posted; null: nowhere. */
  webhook: JobWebhook | null;
  createdAt: Date;
  updatedAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
}

/** The events a job's webhook may subscribe to (see webhooks.ts). */
export type WebhookEvent = "job.started" | "job.progress" | "job.succeeded" | "job.failed" | "job.cancelled";

/** Where a job's events go, as stored on the job. */
export interface JobWebhook {
  url: string;
  events: WebhookEvent[];
}

/** One node of a job's DAG. */
export interface Task {
  id: string;
  jobId: string;
  key: string;
  kind: string;
  position: number;
  state: TaskState;
  /** Claims so far, the running one included. */
  attempts: number;
  /** Backstop: the task is never claimed more often than this, whatever ended its runs. */
  maxAttempts: number;
  /** Runs whose owner stopped heartbeating (crashed or hung) and whose lease was reclaimed. */
  leaseLosses: number;
  /** Runs that ended with a retryable (infrastructure) error. */
  infraFailures: number;
  /** Set at the first infrastructure failure: no infrastructure retry is scheduled after it. */
  retryDeadline: Date | null;
  runAfter: Date;
  leaseOwner: string | null;
  leaseExpiresAt: Date | null;
  heartbeatAt: Date | null;
  input: unknown;
  output: unknown;
  error: unknown;
  /** Keys of the tasks this one waits for. */
  dependsOn: string[];
  createdAt: Date;
  updatedAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
}

/**
 * Proof of holding a task: the owner that claimed it and which attempt it is. The attempt is a fencing
 * token: if the lease expired and the same owner claimed the task again, the stale run's calls still
 * fail because its attempt number is old.
 */
export interface TaskLease {
  taskId: string;
  owner: string;
  attempt: number;
}

/** A task handed to a worker by a claim: the task and the lease to pass back. */
export interface ClaimedTask {
  task: Task;
  lease: TaskLease;
}

/** A task that was running when its job was cancelled or failed: whoever runs it should abort. */
export interface AbortedTask {
  taskId: string;
  jobId: string;
  key: string;
  kind: string;
  /** The lease that is no longer valid: the orchestrator aborts the RPCs it runs under it. */
  lease: TaskLease;
}

/** One entry of a job's progress log. */
export interface JobEvent {
  /** Increasing within a job in commit order; the SSE event id. */
  id: number;
  jobId: string;
  type: string;
  data: unknown;
  createdAt: Date;
}

/** Metadata of a file in the content-addressed artifact store. */
export interface Artifact {
  jobId: string;
  key: string;
  kind: string;
  sha256: string;
  bytes: number;
  path: string;
  meta: unknown;
  createdAt: Date;
}

/** An API key as listed (never with its secret or hash). */
export interface ApiKey {
  id: string;
  name: string;
  scopes: string[];
  /** Requests per minute; null means no limit. */
  rateLimitPerMinute: number | null;
  createdAt: Date;
  revokedAt: Date | null;
}

/** One page of a keyset-paginated list. */
export interface Page<T> {
  items: T[];
  /** Pass back to get the next page; null on the last page. */
  nextCursor: string | null;
}
