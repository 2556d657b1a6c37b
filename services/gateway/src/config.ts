/**
 * The gateway's environment, validated at boot from one declarative schema: a bad value stops the
 * process with a message naming every offending variable. The database variables (DATABASE_URL,
 * DATABASE_SCHEMA, DIFFDA_DATA_DIR) are read by the store's `databaseConfigFromEnv`.
 */
import { isIP } from "node:net";
import { ARCHITECTURES } from "../../../shared/classifier/architectures.js";
import {
  bool,
  ConfigError,
  type ConfigIssue,
  type ConfigOf,
  clientSecurity,
  grpcClientSecurityEnv,
  int,
  LOG_LEVELS,
  list,
  loadConfig,
  number,
  oneOf,
  string,
  url,
} from "../../../shared/config/index.js";
import { DEFAULT_HTTP_LIMITS, type HttpLimits } from "./http-limits.js";
import type { RestLimits } from "./routes/context.js";

const MiB = 1024 * 1024;
const ADDRESS = /[A-Za-z0-9.\-_:[\]/]+/;

/** Every variable the gateway reads (besides the store's). */
export const GATEWAY_ENV = {
  LOG_LEVEL: oneOf(LOG_LEVELS, { default: "info", description: "pino log level" }),
  HOST: string({ default: "127.0.0.1", description: "address the HTTP server binds" }),
  PORT: int({ min: 0, max: 65535, default: 8080, description: "HTTP port (0: any)" }),
  AUTH_MODE: oneOf(["required", "loopback-open"], {
    optional: true,
    description:
      "required: every request needs an API key; loopback-open: requests from 127.0.0.1/::1 without a key act as a local admin. Default: loopback-open when HOST is a loopback address, else required",
  }),
  AUTH_FAILURES_FREE: int({
    min: 1,
    default: 10,
    description: "failed authentications a client address may make per minute before it backs off",
  }),
  AUTH_FAILURE_MAX_BLOCK_MS: int({
    min: 1000,
    default: 60_000,
    description: "longest an address is refused after repeated failed authentications",
  }),
  ARTIFACT_DIR: string({
    default: ".data/artifacts",
    description: "root of the content-addressed artifact store (ARTIFACT_STORE=local)",
  }),
  // The S3 store (docs/deploy.md); credentials come from the AWS SDK's chain (AWS_ACCESS_KEY_ID …).
  ARTIFACT_STORE: oneOf(["local", "s3"], {
    default: "local",
    description: "where artifacts live: local (ARTIFACT_DIR) or s3 (S3_BUCKET, shared by every replica)",
  }),
  S3_BUCKET: string({
    optional: true,
    pattern: /[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/,
    description: "bucket of the artifacts (required with ARTIFACT_STORE=s3; checked with HeadBucket at boot)",
  }),
  S3_PREFIX: string({
    default: "",
    pattern: /([A-Za-z0-9._-]+\/)*/,
    description: "prepended to every object key: empty or segments ending in / (diffda/)",
  }),
  S3_ENDPOINT: url({
    optional: true,
    protocols: ["http:", "https:"],
    description: "S3 API endpoint of a compatible server (MinIO …); unset: AWS for S3_REGION",
  }),
  S3_REGION: string({ default: "us-east-1", pattern: /[a-z0-9-]+/, description: "region of the bucket" }),
  S3_FORCE_PATH_STYLE: bool({
    default: false,
    description: "address the bucket in the path (endpoint/bucket/key), as MinIO needs, not as a host name",
  }),
  S3_CREATE_BUCKET: bool({
    default: false,
    description:
      "create S3_BUCKET at boot when it does not exist (development clusters with an in-cluster MinIO)",
  }),
  S3_SIGNED_DOWNLOADS: bool({
    default: true,
    description:
      "artifact downloads redirect to signed S3 URLs; false: the gateway streams them (clients cannot reach S3_ENDPOINT, e.g. an in-cluster MinIO)",
  }),
  S3_PRESIGN_TTL_SECONDS: int({
    min: 1,
    max: 604_800,
    default: 900,
    description: "lifetime of the signed download URLs of GET /v1/jobs/{id}/artifacts/{key}",
  }),
  S3_PART_BYTES: int({
    min: 5 * MiB, // S3's smallest part
    max: 5 * 1024 * MiB,
    default: 8 * MiB,
    description: "blobs larger than this are uploaded in parts of this size (multipart upload)",
  }),
  JSON_BODY_LIMIT_BYTES: int({ min: 1024, default: 1 * MiB, description: "largest JSON body (jobs, keys)" }),
  UPLOAD_BODY_LIMIT_BYTES: int({
    min: 1024,
    default: 64 * MiB,
    description: "largest dataset upload body (zip, tar or tar.gz archive, or JSON with base64 images)",
  }),
  ADAPTER_BODY_LIMIT_BYTES: int({
    min: 1024,
    default: 64 * MiB,
    description: "largest adapter upload body (a LoRA or textual-inversion safetensors file)",
  }),
  UPLOAD_MAX_FILES: int({ min: 1, default: 10_000, description: "most files in one dataset upload" }),
  UPLOAD_MAX_FILE_BYTES: int({ min: 1024, default: 16 * MiB, description: "largest single image file" }),
  UPLOAD_MAX_PIXELS: int({
    min: 1,
    default: 4096 * 4096,
    description: "most pixels an uploaded image may declare (width × height)",
  }),
  UPLOAD_MAX_INFLATED_BYTES: int({
    min: 1024,
    default: 512 * MiB,
    description: "most bytes an archive may declare or inflate to, over all entries",
  }),
  UPLOAD_MAX_COMPRESSION_RATIO: number({
    min: 1,
    default: 100,
    description: "largest uncompressed/compressed ratio of one zip entry, or of a tar.gz's whole gzip stream",
  }),
  HTTP_HEADERS_TIMEOUT_MS: int({
    min: 100,
    default: DEFAULT_HTTP_LIMITS.headersTimeoutMs,
    description: "most time to receive a request's line and headers (408 request_timeout after)",
  }),
  HTTP_REQUEST_TIMEOUT_MS: int({
    min: 0,
    default: DEFAULT_HTTP_LIMITS.requestTimeoutMs,
    description:
      "most time to receive a whole request, body included (408 request_timeout after; 0: none; not less than HTTP_HEADERS_TIMEOUT_MS)",
  }),
  HTTP_CONNECTION_TIMEOUT_MS: int({
    min: 0,
    default: DEFAULT_HTTP_LIMITS.connectionTimeoutMs,
    description: "a socket with no traffic either way for this long is destroyed (0: never)",
  }),
  HTTP_BODY_IDLE_TIMEOUT_MS: int({
    min: 100,
    default: DEFAULT_HTTP_LIMITS.bodyIdleTimeoutMs,
    description:
      "a request body that sends no byte for this long is abandoned: 408 request_timeout, connection closed",
  }),
  UPLOAD_MAX_IN_FLIGHT: int({
    min: 1,
    default: DEFAULT_HTTP_LIMITS.maxUploadsInFlight,
    description:
      "most dataset uploads (bodies over JSON_BODY_LIMIT_BYTES or chunked) received or processed at once; past it, 503 uploads_busy with Retry-After",
  }),
  SSE_POLL_MS: int({ min: 10, default: 500, description: "how often an event stream polls the store" }),
  SSE_HEARTBEAT_MS: int({
    min: 100,
    default: 15_000,
    description: "idle time after which an event stream sends a comment line",
  }),
  RUN_TASKS: bool({
    default: true,
    description: "run the orchestrator's lease loop in this process (false: an API-only replica)",
  }),
  TASK_LEASE_MS: int({ min: 1000, default: 30_000, description: "task lease length" }),
  TASK_INFRA_RETRY_MS: int({
    min: 0,
    default: 600_000,
    description:
      "how long a task keeps retrying infrastructure failures (a service unreachable, overloaded, past its deadline), from its first one",
  }),
  TASK_MAX_LEASE_LOSSES: int({
    min: 0,
    default: 10,
    description: "how many times a task's gateway may die under it before the task fails",
  }),
  FINETUNE_ADDRESS: string({ default: "127.0.0.1:50051", pattern: ADDRESS, description: "finetune service" }),
  GENERATION_ADDRESSES: list(string({ pattern: ADDRESS }), {
    default: ["127.0.0.1:50052"],
    minItems: 1,
    description:
      "generation replicas, comma-separated, spread round-robin per shard; or one dns:/// name balanced by grpc-js",
  }),
  CLASSIFIER_ADDRESS: string({
    default: "127.0.0.1:50053",
    pattern: ADDRESS,
    description: "classifier service",
  }),
  // TLS, mTLS and the shared token of the calls to the compute services (docs/rpc.md, Security).
  ...grpcClientSecurityEnv(),
  GRPC_MAX_MESSAGE_BYTES: int({
    min: 1024,
    max: 2 ** 31 - 1,
    default: 64 * MiB,
    description: "largest gRPC message sent or received",
  }),
  UPLOAD_CHUNK_BYTES: int({
    min: 1024,
    max: 2 ** 31 - 1,
    default: 4 * MiB,
    description:
      "image sets larger than this go to the compute services over their Upload RPCs in chunks of at most this size; smaller ones travel inline (keep it well under every GRPC_MAX_* limit)",
  }),
  FINETUNE_TIMEOUT_MS: int({ min: 1000, default: 3_600_000, description: "deadline of a Finetune call" }),
  GENERATE_TIMEOUT_MS: int({
    min: 1000,
    default: 1_800_000,
    description: "deadline of a GenerateShard call",
  }),
  TRAIN_TIMEOUT_MS: int({ min: 1000, default: 3_600_000, description: "deadline of a Train call" }),
  EVALUATE_TIMEOUT_MS: int({ min: 1000, default: 300_000, description: "deadline of an Evaluate call" }),
  GENERATION_CONCURRENCY: int({
    min: 1,
    default: 2,
    description: "shards in flight per generation replica from this gateway",
  }),
  CLASSIFIER_CONCURRENCY: int({
    min: 1,
    default: 2,
    description:
      "train tasks, and separately evaluate tasks, in flight at the classifier service from this gateway (match its CLASSIFIER_MAX_CONCURRENT_RUNS)",
  }),
  MAX_SYNTHETIC_IMAGES: int({
    min: 1,
    default: 200_000,
    description: "most synthetic images one job may generate (methods × seeds × train images × per-real)",
  }),
  MAX_RUNS: int({ min: 1, max: 1000, default: 64, description: "most (method, seed) runs in one job" }),
  SHARD_SIZE: int({ min: 1, max: 10_000, default: 64, description: "synthetic images per generation shard" }),
  BASE_MODEL: string({ default: "diffda-tiny", description: "text-to-image model id (ModelRef.name)" }),
  INSTRUCT_MODEL: string({
    default: "diffda-tiny-instruct",
    description: "instruction-edit model id used by instruct_edit (DiffuseMix)",
  }),
  CLASSIFIER_ARCHITECTURE: oneOf(Object.keys(ARCHITECTURES) as [string, ...string[]], {
    default: "resnet8",
    description: "default classifier network",
  }),
  ARTIFACT_GC_INTERVAL_MS: int({
    min: 0,
    default: 3_600_000,
    description: "how often this replica sweeps the artifact store for unreferenced blobs (0: never)",
  }),
  ARTIFACT_GC_GRACE_MS: int({
    min: 0,
    default: 600_000,
    description:
      "blobs written or reused more recently than this are never collected (covers the gap between a file and its row)",
  }),
  JOB_RETENTION_DAYS: int({
    min: 0,
    default: 0,
    description: "finished jobs older than this are deleted with their artifacts (0: kept forever)",
  }),
  DATASET_RETENTION_DAYS: int({
    min: 0,
    default: 0,
    description: "uploaded datasets older than this that no live job reads are deleted (0: kept forever)",
  }),
  SEND_WEBHOOKS: bool({
    default: true,
    description:
      "run the webhook dispatcher in this process (replicas share the deliveries through leases; false: send none from here)",
  }),
  WEBHOOK_ALLOW_HTTP: bool({
    default: false,
    description: "let jobs name plain http:// webhook URLs (development and tests; default https only)",
  }),
  WEBHOOK_ALLOW_PRIVATE: bool({
    default: false,
    description:
      "let webhooks reach loopback, private and link-local addresses and single-label hosts (development and tests)",
  }),
  WEBHOOK_TIMEOUT_MS: int({
    min: 100,
    default: 10_000,
    description: "a webhook attempt with no complete answer after this long failed",
  }),
  WEBHOOK_RETRY_FOR_MS: int({
    min: 0,
    default: 86_400_000,
    description:
      "failed webhook deliveries are retried (exponential backoff from 5 s to 10 min, full jitter) until this long after the event, then marked failed",
  }),
  WEBHOOK_PROGRESS_INTERVAL_MS: int({
    min: 0,
    default: 10_000,
    description: "at most one job.progress webhook delivery per job per this long",
  }),
  WEBHOOK_POLL_MS: int({
    min: 10,
    default: 1_000,
    description: "how often the dispatcher looks for due webhook deliveries when it has none in hand",
  }),
  WEBHOOK_CONCURRENCY: int({
    min: 1,
    max: 100,
    default: 8,
    description: "webhook deliveries in flight at once from this gateway",
  }),
  DRAIN_GRACE_MS: int({
    min: 0,
    default: 30_000,
    description: "on SIGTERM, how long requests and tasks may finish before leases are handed back",
  }),
} as const;

/** The validated environment. */
export type GatewayEnv = ConfigOf<typeof GATEWAY_ENV>;

/** Whether `host` names only this machine (so that a listener on it cannot be reached from outside). */
export function isLoopbackHost(host: string): boolean {
  if (host === "localhost") return true;
  const bare = host.replace(/^\[|\]$/g, "");
  if (isIP(bare) === 4) return bare.startsWith("127.");
  if (isIP(bare) === 6) return bare === "::1";
  return false;
}

/** The auth mode in force: the configured one, else open on loopback only when listening on loopback. */
export function resolveAuthMode(env: Pick<GatewayEnv, "AUTH_MODE" | "HOST">): "required" | "loopback-open" {
  return env.AUTH_MODE ?? (isLoopbackHost(env.HOST) ? "loopback-open" : "required");
}

/** The REST layer's limits from the environment. */
export function restLimitsFromEnv(env: GatewayEnv): RestLimits {
  return {
    jsonBodyBytes: env.JSON_BODY_LIMIT_BYTES,
    uploadBodyBytes: env.UPLOAD_BODY_LIMIT_BYTES,
    adapterBodyBytes: env.ADAPTER_BODY_LIMIT_BYTES,
    upload: {
      maxFiles: env.UPLOAD_MAX_FILES,
      maxFileBytes: env.UPLOAD_MAX_FILE_BYTES,
      maxPixels: env.UPLOAD_MAX_PIXELS,
      maxTotalBytes: env.UPLOAD_MAX_INFLATED_BYTES,
      maxCompressionRatio: env.UPLOAD_MAX_COMPRESSION_RATIO,
      maxClasses: 1000,
    },
    shardSize: env.SHARD_SIZE,
    maxSyntheticImages: env.MAX_SYNTHETIC_IMAGES,
    maxRuns: env.MAX_RUNS,
    ssePollMs: env.SSE_POLL_MS,
    sseHeartbeatMs: env.SSE_HEARTBEAT_MS,
  };
}

/** The HTTP server's timeouts and upload cap from the environment. */
export function httpLimitsFromEnv(env: GatewayEnv): HttpLimits {
  return {
    headersTimeoutMs: env.HTTP_HEADERS_TIMEOUT_MS,
    requestTimeoutMs: env.HTTP_REQUEST_TIMEOUT_MS,
    connectionTimeoutMs: env.HTTP_CONNECTION_TIMEOUT_MS,
    bodyIdleTimeoutMs: env.HTTP_BODY_IDLE_TIMEOUT_MS,
    maxUploadsInFlight: env.UPLOAD_MAX_IN_FLIGHT,
  };
}

/** Reads and validates the gateway's environment; throws ConfigError listing every bad variable. */
export function loadGatewayEnv(env: Readonly<Record<string, string | undefined>> = process.env): GatewayEnv {
  const config = loadConfig(GATEWAY_ENV, env);
  const issues: ConfigIssue[] = [];
  // A chunk must fit in one message with its header and framing, or chunking would not help.
  if (config.UPLOAD_CHUNK_BYTES > config.GRPC_MAX_MESSAGE_BYTES / 2) {
    issues.push({
      name: "UPLOAD_CHUNK_BYTES",
      expected: `at most half of GRPC_MAX_MESSAGE_BYTES (${Math.floor(config.GRPC_MAX_MESSAGE_BYTES / 2)})`,
      received: env.UPLOAD_CHUNK_BYTES ?? String(config.UPLOAD_CHUNK_BYTES),
    });
  }
  // Node refuses a headers timeout longer than a (non-zero) request timeout.
  if (
    config.HTTP_REQUEST_TIMEOUT_MS !== 0 &&
    config.HTTP_REQUEST_TIMEOUT_MS < config.HTTP_HEADERS_TIMEOUT_MS
  ) {
    issues.push({
      name: "HTTP_REQUEST_TIMEOUT_MS",
      expected: `0 or at least HTTP_HEADERS_TIMEOUT_MS (${config.HTTP_HEADERS_TIMEOUT_MS})`,
      received: env.HTTP_REQUEST_TIMEOUT_MS ?? String(config.HTTP_REQUEST_TIMEOUT_MS),
    });
  }
  if (config.ARTIFACT_STORE === "s3" && config.S3_BUCKET === undefined) {
    issues.push({ name: "S3_BUCKET", expected: "a bucket name with ARTIFACT_STORE=s3", received: undefined });
  }
  // The TLS files and token are checked at boot, not at the first call.
  try {
    clientSecurity(config);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    issues.push(...error.issues);
  }
  if (issues.length > 0) throw new ConfigError(issues);
  return config;
}
