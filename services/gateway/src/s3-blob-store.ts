/**
 * The S3 {@link BlobStore}: a blob is the object `<prefix>sha256/ab/cdef…` in one bucket, so gateway
 * replicas share a bucket instead of a ReadWriteMany volume. Content addressing makes every write
 * idempotent: a put hashes first and HEADs the key, and uploads only what is missing.
 *
 * Atomicity: an object becomes visible only when its PutObject or CompleteMultipartUpload succeeds, so a
 * reader never sees part of a blob. A multipart upload that fails is aborted; one cut short by a crash
 * stays invisible (its parts are removed by the bucket's AbortIncompleteMultipartUpload lifecycle rule,
 * docs/deploy.md), so `removeStaleTemp` has nothing to do here.
 *
 * Reuse ("touch"): a put that finds the blob already there copies the object onto itself with replaced
 * metadata `x-amz-meta-used-at` (epoch ms). S3 moves LastModified on such a copy too, but not every
 * S3-compatible server does, so `info` reports the later of LastModified and used-at, and the collector's
 * grace starts again either way.
 */

import type { Readable } from "node:stream";
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  type HeadObjectCommandOutput,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import {
  type BlobInfo,
  type BlobStore,
  BlobStoreUnavailableError,
  blobPathOf,
  type DownloadLink,
  isDigest,
  type LinkOptions,
  missingBlob,
  type StoredBlob,
  sha256Hex,
} from "./blob-store.js";

/** Where the blobs are and how they are written. */
export interface S3BlobStoreOptions {
  client: S3Client;
  bucket: string;
  /** Prepended to every key: empty, or ending in `/`. */
  prefix: string;
  /** Blobs larger than this go up in parts of this size (S3 needs at least 5 MiB; tests use less). */
  partBytes: number;
  /** Lifetime of a signed download URL. */
  presignTtlSeconds: number;
  /**
   * Whether downloads are signed links to the object (default true). Off where API clients cannot reach
   * the S3 endpoint (an in-cluster MinIO): the gateway then streams the object itself.
   */
  signLinks?: boolean;
  /** Parts uploaded at once by one put. Default 4. */
  partConcurrency?: number;
  /** Keys per ListObjectsV2 page (at most 1000). Default 1000. */
  listPageSize?: number;
}

const USED_AT = "used-at";

/** A content-addressed blob store in an S3 (or S3-compatible) bucket. */
export class S3BlobStore implements BlobStore {
  readonly kind = "s3";
  readonly bucket: string;
  readonly prefix: string;
  readonly #client: S3Client;
  readonly #options: Required<Omit<S3BlobStoreOptions, "client" | "bucket" | "prefix">>;

  constructor(options: S3BlobStoreOptions) {
    if (options.prefix !== "" && !options.prefix.endsWith("/")) {
      throw new TypeError("an S3 prefix is empty or ends with /");
    }
    this.#client = options.client;
    this.bucket = options.bucket;
    this.prefix = options.prefix;
    this.#options = {
      partBytes: options.partBytes,
      presignTtlSeconds: options.presignTtlSeconds,
      signLinks: options.signLinks ?? true,
      partConcurrency: options.partConcurrency ?? 4,
      listPageSize: options.listPageSize ?? 1000,
    };
  }

  /** The object key of a digest. */
  keyOf(sha256: string): string {
    return this.prefix + blobPathOf(sha256);
  }

  /**
   * Rejects unless the bucket exists and these credentials may use it (HeadBucket). With `create`, a
   * bucket that does not exist (404) is created first: a fresh in-cluster MinIO starts without it.
   */
  async checkBucket(timeoutMs = 10_000, create = false): Promise<void> {
    const head = () =>
      this.#client.send(new HeadBucketCommand({ Bucket: this.bucket }), {
        abortSignal: AbortSignal.timeout(timeoutMs),
      });
    try {
      await head();
    } catch (error) {
      const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (!create || status !== 404) throw error;
      await this.#client.send(new CreateBucketCommand({ Bucket: this.bucket }), {
        abortSignal: AbortSignal.timeout(timeoutMs),
      });
      await head();
    }
  }

  async put(bytes: Uint8Array): Promise<StoredBlob> {
    const sha256 = sha256Hex(bytes);
    const path = blobPathOf(sha256);
    const Key = this.prefix + path;
    if (await this.#head(Key)) {
      await this.#touch(Key);
    } else if (bytes.length <= this.#options.partBytes) {
      await this.#call(
        "store a blob",
        this.#client.send(new PutObjectCommand({ Bucket: this.bucket, Key, Body: bytes })),
      );
    } else {
      await this.#putMultipart(Key, bytes);
    }
    return { sha256, bytes: bytes.length, path };
  }

  async has(sha256: string): Promise<boolean> {
    return (await this.#head(this.keyOf(sha256))) !== undefined;
  }

  async read(sha256: string): Promise<Buffer> {
    const body = await this.#get(sha256);
    return Buffer.from(await body.transformToByteArray());
  }

  async stream(sha256: string): Promise<Readable> {
    // In Node the SDK's body is the HTTP response itself: a Readable.
    return (await this.#get(sha256)) as unknown as Readable;
  }

  async size(sha256: string): Promise<number | undefined> {
    return (await this.info(sha256))?.bytes;
  }

  async info(sha256: string): Promise<BlobInfo | undefined> {
    const head = await this.#head(this.keyOf(sha256));
    if (head === undefined) return undefined;
    const usedAt = Number(head.Metadata?.[USED_AT]);
    const modifiedMs = head.LastModified?.getTime() ?? 0;
    return {
      bytes: head.ContentLength ?? 0,
      modifiedMs: Number.isFinite(usedAt) ? Math.max(modifiedMs, usedAt) : modifiedMs,
    };
  }

  async delete(sha256: string): Promise<void> {
    await this.#call(
      "delete a blob",
      this.#client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.keyOf(sha256) })),
    );
  }

  /**
   * Pages through ListObjectsV2 by StartAfter (the last key seen) rather than continuation tokens: both
   * are S3, and StartAfter also works on servers whose tokens are broken.
   */
  async *digests(): AsyncGenerator<string> {
    const base = `${this.prefix}sha256/`;
    let after: string | undefined;
    for (;;) {
      const page = await this.#call(
        "list blobs",
        this.#client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: base,
            MaxKeys: this.#options.listPageSize,
            ...(after === undefined ? {} : { StartAfter: after }),
          }),
        ),
      );
      const keys = (page.Contents ?? []).map((object) => object.Key ?? "").filter((key) => key !== "");
      for (const key of keys) {
        const [fan, rest, extra] = key.slice(base.length).split("/");
        if (extra === undefined && fan?.length === 2 && isDigest(fan + rest)) yield fan + rest;
      }
      if (!page.IsTruncated || keys.length === 0) return;
      const last = keys[keys.length - 1];
      // A server that answers the same page again would make this loop forever.
      if (after !== undefined && last <= after)
        throw new Error("ListObjectsV2 did not advance past StartAfter");
      after = last;
    }
  }

  /** Nothing: an interrupted multipart upload is never visible, and the bucket's lifecycle rule removes it. */
  async removeStaleTemp(): Promise<number> {
    return 0;
  }

  async link(sha256: string, options: LinkOptions): Promise<DownloadLink | undefined> {
    if (!this.#options.signLinks) return undefined;
    const ttl = this.#options.presignTtlSeconds;
    // X-Amz-Date has whole seconds: sign at a whole second so that expiresAt is the URL's own expiry.
    const signingDate = new Date(Math.floor(Date.now() / 1000) * 1000);
    const url = await getSignedUrl(
      this.#client,
      new GetObjectCommand({
        Bucket: this.bucket,
        Key: this.keyOf(sha256),
        ResponseContentType: options.mediaType,
        ResponseContentDisposition: `attachment; filename="${options.filename}"`,
      }),
      { expiresIn: ttl, signingDate },
    );
    return { url, expiresAt: new Date(signingDate.getTime() + ttl * 1000).toISOString() };
  }

  /** Awaits an S3 call, turning its transient failures into {@link BlobStoreUnavailableError}. */
  async #call<T>(operation: string, request: Promise<T>): Promise<T> {
    try {
      return await request;
    } catch (error) {
      throw storeError(operation, error);
    }
  }

  async #get(sha256: string) {
    try {
      const output = await this.#client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: this.keyOf(sha256) }),
      );
      if (output.Body === undefined) throw missingBlob(sha256);
      return output.Body;
    } catch (error) {
      if (isNotFound(error)) throw missingBlob(sha256);
      throw storeError("read a blob", error);
    }
  }

  async #head(Key: string): Promise<HeadObjectCommandOutput | undefined> {
    try {
      return await this.#client.send(new HeadObjectCommand({ Bucket: this.bucket, Key }));
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw storeError("look a blob up", error);
    }
  }

  /** Marks a blob as just reused: a copy onto itself with `used-at` replaced (objects up to 5 GiB). */
  async #touch(Key: string): Promise<void> {
    await this.#call(
      "mark a blob reused",
      this.#client.send(
        new CopyObjectCommand({
          Bucket: this.bucket,
          Key,
          CopySource: `${this.bucket}/${Key.split("/").map(encodeURIComponent).join("/")}`,
          MetadataDirective: "REPLACE",
          Metadata: { [USED_AT]: String(Date.now()) },
        }),
      ),
    );
  }

  /** Uploads in parts; on any failure the upload is aborted, so no part of it is ever visible. */
  async #putMultipart(Key: string, bytes: Uint8Array): Promise<void> {
    const { UploadId } = await this.#call(
      "start an upload",
      this.#client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key })),
    );
    if (UploadId === undefined) throw new Error("CreateMultipartUpload returned no UploadId");
    try {
      const size = this.#options.partBytes;
      const count = Math.ceil(bytes.length / size);
      const etags: string[] = new Array(count);
      let next = 0;
      let failed = false;
      const worker = async () => {
        while (!failed && next < count) {
          const index = next++;
          const part = await this.#call(
            "upload a part",
            this.#client.send(
              new UploadPartCommand({
                Bucket: this.bucket,
                Key,
                UploadId,
                PartNumber: index + 1,
                Body: bytes.subarray(index * size, Math.min((index + 1) * size, bytes.length)),
              }),
            ),
          );
          if (part.ETag === undefined) throw new Error(`UploadPart ${index + 1} returned no ETag`);
          etags[index] = part.ETag;
        }
      };
      // Every worker settles before the abort, so that no part lands after it.
      const settled = await Promise.allSettled(
        Array.from({ length: Math.min(this.#options.partConcurrency, count) }, () =>
          worker().catch((error: unknown) => {
            failed = true;
            throw error;
          }),
        ),
      );
      const rejected = settled.find((result) => result.status === "rejected");
      if (rejected) throw rejected.reason;
      await this.#call(
        "complete an upload",
        this.#client.send(
          new CompleteMultipartUploadCommand({
            Bucket: this.bucket,
            Key,
            UploadId,
            MultipartUpload: { Parts: etags.map((ETag, index) => ({ ETag, PartNumber: index + 1 })) },
          }),
        ),
      );
    } catch (error) {
      // Best effort: the original failure is what the caller needs; a failed abort leaves only parts.
      await this.#client
        .send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key, UploadId }))
        .catch(() => undefined);
      throw error;
    }
  }
}

/** Transport and server-side failures become {@link BlobStoreUnavailableError}; the rest stays as is. */
function storeError(operation: string, error: unknown): unknown {
  return isTransient(error) ? new BlobStoreUnavailableError(operation, error) : error;
}

/** No answer (a refused or dropped connection, a timeout), a 5xx, or throttling. */
function isTransient(error: unknown): boolean {
  const e = error as {
    name?: string;
    code?: unknown;
    $fault?: string;
    $retryable?: unknown;
    $metadata?: { httpStatusCode?: number };
  };
  if (e === null || typeof e !== "object") return false;
  if (e.$fault === "server" || e.$retryable) return true;
  const status = e.$metadata?.httpStatusCode;
  if (status !== undefined && (status >= 500 || status === 429)) return true;
  if (["TimeoutError", "RequestTimeout", "SlowDown", "ThrottlingException"].includes(e.name ?? ""))
    return true;
  return typeof e.code === "string" && RETRYABLE_SYSTEM_CODES.has(e.code);
}

const RETRYABLE_SYSTEM_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
  "ENOTFOUND",
]);

function isNotFound(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === "NotFound" || e?.name === "NoSuchKey" || e?.$metadata?.httpStatusCode === 404;
}
