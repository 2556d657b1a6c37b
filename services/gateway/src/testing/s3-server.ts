/**
 * A real S3 endpoint for tests: s3rver (the S3 REST protocol over a temp directory) on 127.0.0.1, started
 * in-process, so CI needs nothing besides npm. s3rver accepts SigV4 header signatures without checking
 * them and does not check presigned (query) signatures at all, so a gate in front of its routes verifies
 * every presigned request from the SigV4 spec (canonical request, string to sign, HMAC chain, expiry);
 * a URL this repository signs wrongly, or one tampered with, is refused as S3 would refuse it (403).
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import S3rver from "s3rver";
import { S3BlobStore, type S3BlobStoreOptions } from "../s3-blob-store.js";

/** s3rver's built-in account. */
export const TEST_S3_CREDENTIALS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" } as const;

/** A running endpoint with one bucket. */
export interface TestS3 {
  endpoint: string;
  bucket: string;
  region: string;
  /** A client of the endpoint (path style, the test credentials). */
  client: S3Client;
  /** The gateway variables that select this bucket (and the credentials for the SDK's env chain). */
  env: Record<string, string>;
  /** A store over the bucket: small parts so that tests reach the multipart path cheaply. */
  store(options?: Partial<Omit<S3BlobStoreOptions, "bucket">>): S3BlobStore;
  /** Every object key in the bucket under `prefix`, in order (at most 10 000). */
  keys(prefix?: string): Promise<string[]>;
  /** Presigned requests refused by the gate, with the reason, for assertions. */
  refused: string[];
  /**
   * Holds every UploadPart request from now on (a crash test kills its writer mid-upload) until
   * `release()`, which answers them 503; `held()` says how many arrived.
   */
  holdParts(): { held(): number; release(): void };
  close(): Promise<void>;
}

/** Starts s3rver on a free loopback port with `bucket` created. */
export async function startTestS3(options: { bucket?: string } = {}): Promise<TestS3> {
  const bucket = options.bucket ?? "diffda-test";
  const region = "us-east-1";
  const directory = await mkdtemp(join(tmpdir(), "diffda-s3rver-"));
  const server = new S3rver({
    address: "127.0.0.1",
    port: 0,
    directory,
    silent: true,
    configureBuckets: [{ name: bucket, configs: [] }],
  });
  const refused: string[] = [];
  let hold: { count: number; released: Promise<void>; release(): void } | undefined;
  // Koa composes its middleware when the server starts listening: the gate runs before s3rver's own.
  (server as unknown as { middleware: unknown[] }).middleware.unshift(
    async (ctx: KoaContext, next: () => Promise<void>) => {
      if (hold !== undefined && ctx.method === "PUT" && "uploadId" in ctx.query) {
        hold.count += 1;
        await hold.released;
        ctx.status = 503;
        return;
      }
      if (!("X-Amz-Algorithm" in ctx.query)) return next();
      const reason = verifyPresigned(ctx.method, ctx.originalUrl, ctx.get("host"), Date.now());
      if (reason === undefined) return next();
      refused.push(reason);
      ctx.status = 403;
      ctx.type = "application/xml";
      ctx.body = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SignatureDoesNotMatch</Code><Message>${reason}</Message></Error>`;
    },
  );
  const { port } = (await server.run()) as { port: number };
  const endpoint = `http://127.0.0.1:${port}`;
  // The SDK warns once per process that its 2027 releases need Node 22; tests need not say so.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  const client = new S3Client({
    endpoint,
    region,
    forcePathStyle: true,
    credentials: TEST_S3_CREDENTIALS,
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
  return {
    endpoint,
    bucket,
    region,
    client,
    refused,
    holdParts() {
      let release = () => {};
      const released = new Promise<void>((resolve) => {
        release = resolve;
      });
      const current = { count: 0, released, release };
      hold = current;
      return {
        held: () => current.count,
        release() {
          if (hold === current) hold = undefined;
          current.release();
        },
      };
    },
    env: {
      ARTIFACT_STORE: "s3",
      S3_BUCKET: bucket,
      S3_ENDPOINT: endpoint,
      S3_REGION: region,
      S3_FORCE_PATH_STYLE: "true",
      AWS_ACCESS_KEY_ID: TEST_S3_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: TEST_S3_CREDENTIALS.secretAccessKey,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
    },
    store: (overrides = {}) =>
      new S3BlobStore({
        client,
        bucket,
        prefix: "",
        partBytes: 64 * 1024,
        presignTtlSeconds: 300,
        ...overrides,
      }),
    async keys(prefix = "") {
      const keys: string[] = [];
      for (let page = 0; page < 10; page += 1) {
        const listed = await client.send(
          new ListObjectsV2Command({
            Bucket: bucket,
            Prefix: prefix,
            ...(keys.length > 0 ? { StartAfter: keys[keys.length - 1] } : {}),
          }),
        );
        keys.push(...(listed.Contents ?? []).map((object) => object.Key ?? ""));
        if (!listed.IsTruncated) break;
      }
      return keys;
    },
    async close() {
      hold?.release();
      client.destroy();
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}

interface KoaContext {
  method: string;
  originalUrl: string;
  query: Record<string, unknown>;
  get(header: string): string;
  status: number;
  type: string;
  body: unknown;
}

/** RFC 3986 percent-encoding, as SigV4 canonicalises query names and values. */
function encode(text: string): string {
  return encodeURIComponent(text).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

const hmac = (key: Buffer | string, data: string) => createHmac("sha256", key).update(data).digest();

/** Why a presigned request is refused, or undefined when its SigV4 query signature is valid. */
export function verifyPresigned(
  method: string,
  rawUrl: string,
  host: string,
  now: number,
): string | undefined {
  const url = new URL(rawUrl, `http://${host}`);
  const q = url.searchParams;
  if (q.get("X-Amz-Algorithm") !== "AWS4-HMAC-SHA256") return "unknown algorithm";
  const [accessKeyId, date, region, service, terminator] = (q.get("X-Amz-Credential") ?? "").split("/");
  if (accessKeyId !== TEST_S3_CREDENTIALS.accessKeyId || terminator !== "aws4_request")
    return "bad credential";
  const amzDate = q.get("X-Amz-Date") ?? "";
  const signed = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(amzDate);
  const expires = Number(q.get("X-Amz-Expires"));
  if (!signed || !amzDate.startsWith(date) || !Number.isInteger(expires)) return "bad date or expiry";
  const [, y, mo, d, h, mi, s] = signed.map(Number);
  if (now > Date.UTC(y, mo - 1, d, h, mi, s) + expires * 1000) return "expired";
  const signedHeaders = (q.get("X-Amz-SignedHeaders") ?? "").split(";");
  const query = [...q.entries()]
    .filter(([name]) => name !== "X-Amz-Signature")
    .map(([name, value]) => [encode(name), encode(value)])
    .sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([name, value]) => `${name}=${value}`)
    .join("&");
  const headers = signedHeaders.map((name) => `${name}:${name === "host" ? host : ""}\n`).join("");
  const canonical = [method, url.pathname, query, headers, signedHeaders.join(";"), "UNSIGNED-PAYLOAD"].join(
    "\n",
  );
  const scope = `${date}/${region}/${service}/aws4_request`;
  const toSign = [
    "AWS4-HMAC-SHA256",
    amzDate,
    scope,
    createHash("sha256").update(canonical).digest("hex"),
  ].join("\n");
  let key = hmac(`AWS4${TEST_S3_CREDENTIALS.secretAccessKey}`, date);
  for (const part of [region, service, "aws4_request"]) key = hmac(key, part);
  const expected = hmac(key, toSign);
  const given = Buffer.from(q.get("X-Amz-Signature") ?? "", "hex");
  if (given.length !== expected.length || !timingSafeEqual(given, expected))
    return "signature does not match";
  return undefined;
}
