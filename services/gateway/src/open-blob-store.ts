/**
 * The artifact store the configuration names: the local directory (default) or an S3 bucket. The S3
 * store is checked at boot: an unreachable endpoint, a missing bucket or refused credentials are a
 * ConfigError (exit code 2), not a failure at the first upload. The AWS SDK is loaded only for S3.
 */
import { ConfigError } from "../../../shared/config/index.js";
import { ArtifactStore } from "./artifact-store.js";
import type { BlobStore } from "./blob-store.js";
import type { GatewayEnv } from "./config.js";

/**
 * The credential variables the AWS SDK's environment provider reads (first in its chain; the chain goes
 * on to shared files, container and instance roles, web identity). Deployments may set these.
 */
export const S3_CREDENTIAL_ENV = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"] as const;

type StoreConfig = Pick<
  GatewayEnv,
  | "ARTIFACT_STORE"
  | "ARTIFACT_DIR"
  | "S3_BUCKET"
  | "S3_PREFIX"
  | "S3_ENDPOINT"
  | "S3_REGION"
  | "S3_FORCE_PATH_STYLE"
  | "S3_PRESIGN_TTL_SECONDS"
  | "S3_CREATE_BUCKET"
  | "S3_SIGNED_DOWNLOADS"
  | "S3_PART_BYTES"
>;

/** Opens (and for S3, checks) the configured store; `checkTimeoutMs` bounds the HeadBucket at boot. */
export async function openBlobStore(config: StoreConfig, checkTimeoutMs = 10_000): Promise<BlobStore> {
  if (config.ARTIFACT_STORE === "local") return new ArtifactStore(config.ARTIFACT_DIR);
  const bucket = config.S3_BUCKET;
  if (bucket === undefined) {
    throw new ConfigError([
      { name: "S3_BUCKET", expected: "a bucket name with ARTIFACT_STORE=s3", received: undefined },
    ]);
  }
  const [{ S3Client }, { S3BlobStore }] = await Promise.all([
    import("@aws-sdk/client-s3"),
    import("./s3-blob-store.js"),
  ]);
  const client = new S3Client({
    region: config.S3_REGION,
    forcePathStyle: config.S3_FORCE_PATH_STYLE,
    ...(config.S3_ENDPOINT ? { endpoint: config.S3_ENDPOINT } : {}),
    // Checksums only where S3 requires them: many S3-compatible servers reject the newer defaults. The
    // content is checked by its digest anyway.
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
  const store = new S3BlobStore({
    client,
    bucket,
    prefix: config.S3_PREFIX,
    partBytes: config.S3_PART_BYTES,
    presignTtlSeconds: config.S3_PRESIGN_TTL_SECONDS,
    signLinks: config.S3_SIGNED_DOWNLOADS,
  });
  try {
    await store.checkBucket(checkTimeoutMs, config.S3_CREATE_BUCKET);
  } catch (error) {
    client.destroy();
    const where = config.S3_ENDPOINT ?? `AWS ${config.S3_REGION}`;
    throw new ConfigError([
      {
        name: "S3_BUCKET",
        expected: `a bucket reachable at ${where} with these credentials (HeadBucket failed: ${describe(error)})`,
        received: bucket,
      },
    ]);
  }
  return store;
}

function describe(error: unknown): string {
  const e = error as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const status = e?.$metadata?.httpStatusCode;
  return [e?.name, status ? `HTTP ${status}` : undefined, e?.message].filter(Boolean).join(", ");
}
