/**
 * The artifact store's contract: content-addressed blobs (a blob's name is its SHA-256, at
 * `sha256/ab/cdef…`), written whole or not at all. Two implementations keep it: {@link ArtifactStore}
 * (a local directory or mounted volume, the default) and {@link S3BlobStore} (a bucket, so that gateway
 * replicas share nothing on disk). `blob-store.contract.ts` runs one behaviour suite against both.
 */
import { createHash } from "node:crypto";
import type { Readable } from "node:stream";

const DIGEST = /^[0-9a-f]{64}$/;

/** Where a stored blob is and what it is. */
export interface StoredBlob {
  /** Lower-case hex SHA-256 of the content. */
  sha256: string;
  bytes: number;
  /** Path relative to the store's root (or the bucket prefix): `sha256/ab/cdef…`. */
  path: string;
}

/** What garbage collection needs to know of a blob. */
export interface BlobInfo {
  bytes: number;
  /** Last write, or last reuse by a `put` of the same content (epoch ms). */
  modifiedMs: number;
}

/** A URL that downloads a blob without credentials until `expiresAt`. */
export interface DownloadLink {
  url: string;
  /** ISO 8601. */
  expiresAt: string;
}

/** How a signed download names and types the file. */
export interface LinkOptions {
  filename: string;
  mediaType: string;
}

/** A content-addressed blob store. Digests are checked: anything but 64 lower-case hex digits throws. */
export interface BlobStore {
  /** `local` or `s3`, for logs and for routes that behave differently (signed links). */
  readonly kind: "local" | "s3";
  /**
   * Stores `bytes` unless the content is already there; either way the blob counts as just written for
   * garbage collection (its grace starts again), because the caller is about to reference it.
   */
  put(bytes: Uint8Array): Promise<StoredBlob>;
  /** Whether a blob is stored. */
  has(sha256: string): Promise<boolean>;
  /** The whole content of a blob; rejects with an error whose `code` is `ENOENT` when it is missing. */
  read(sha256: string): Promise<Buffer>;
  /** A stream of a blob's content; rejects (`ENOENT`) when it is missing. */
  stream(sha256: string): Promise<Readable>;
  /** Size in bytes of a stored blob, or undefined. */
  size(sha256: string): Promise<number | undefined>;
  /** Size and last write or reuse of a stored blob, or undefined. */
  info(sha256: string): Promise<BlobInfo | undefined>;
  /** Deletes a blob (garbage collection; check that no row references it first). Missing is fine. */
  delete(sha256: string): Promise<void>;
  /** Every stored digest, in ascending order (names that are not digests are skipped). */
  digests(): AsyncIterable<string>;
  /** Removes leftovers of writes cut short by a crash, older than `olderThanMs`; returns how many. */
  removeStaleTemp(olderThanMs: number, now?: number): Promise<number>;
  /** A signed download URL, or undefined when this store cannot sign one (the local store). */
  link(sha256: string, options: LinkOptions): Promise<DownloadLink | undefined>;
}

/** The SHA-256 of `bytes` as lower-case hex. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** The relative path of a digest; throws TypeError for anything that is not 64 lower-case hex digits. */
export function blobPathOf(sha256: string): string {
  if (!DIGEST.test(sha256)) throw new TypeError("not a sha256 digest");
  return `sha256/${sha256.slice(0, 2)}/${sha256.slice(2)}`;
}

/** Whether `name` is a digest. */
export function isDigest(name: string): boolean {
  return DIGEST.test(name);
}

/**
 * The store could not be reached, or failed on its side (a 5xx, throttling, a timeout): worth retrying
 * later. The orchestrator retries a task that throws it (`retryable`); the REST layer answers 503.
 */
export class BlobStoreUnavailableError extends Error {
  override readonly name = "BlobStoreUnavailableError";
  readonly code = "artifact_store_unavailable";
  readonly retryable = true;

  constructor(operation: string, cause: unknown) {
    const reason = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
    super(`the artifact store failed to ${operation} (${reason})`, { cause });
  }
}

/** The error `read` and `stream` reject with for a missing blob (the same `code` as the file system's). */
export function missingBlob(sha256: string): Error {
  return Object.assign(new Error(`blob ${sha256} is not stored`), { code: "ENOENT" });
}
