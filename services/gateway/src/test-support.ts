/**
 * Helpers for the gateway's tests (not part of the public API): an app over an in-memory PGlite store and
 * a temporary artifact directory, keys with given scopes, tiny PNGs and zip archives.
 */
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import sharp from "sharp";
import { type AppDeps, buildApp } from "./app.js";
import { ArtifactStore } from "./artifact-store.js";
import type { RestLimits } from "./routes/context.js";
import { type JobStore, openJobStore } from "./store/index.js";

/** Limits small enough for tests to cross them cheaply. */
export const TEST_LIMITS: RestLimits = {
  jsonBodyBytes: 256 * 1024,
  uploadBodyBytes: 2 * 1024 * 1024,
  upload: {
    maxFiles: 50,
    maxFileBytes: 256 * 1024,
    maxPixels: 512 * 512,
    maxTotalBytes: 8 * 1024 * 1024,
    maxCompressionRatio: 50,
    maxClasses: 20,
  },
  shardSize: 4,
  maxSyntheticImages: 10_000,
  maxRuns: 40,
  ssePollMs: 20,
  sseHeartbeatMs: 60,
};

/** A running test gateway. */
export interface TestGateway {
  app: FastifyInstance;
  store: JobStore;
  artifacts: ArtifactStore;
  dir: string;
  /** Files in the artifact store (relative paths), temp files included. */
  files(): Promise<string[]>;
  close(): Promise<void>;
}

/** Opens an in-memory store once; tests in a file share it (PGlite takes seconds to start). */
export async function openTestStore(): Promise<JobStore> {
  return openJobStore({ kind: "memory" });
}

/** Builds an app over `store` (or a new one) with a fresh artifact directory. */
export async function testGateway(
  overrides: Partial<AppDeps> & { store?: JobStore } = {},
): Promise<TestGateway> {
  const store = overrides.store ?? (await openTestStore());
  const dir = await mkdtemp(join(tmpdir(), "diffda-gateway-"));
  const artifacts = overrides.artifacts ?? new ArtifactStore(dir);
  const app = await buildApp({
    authMode: "required",
    limits: TEST_LIMITS,
    ...overrides,
    store,
    artifacts,
  });
  return {
    app,
    store,
    artifacts,
    dir,
    files: () => listFiles(dir),
    async close() {
      await app.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath ?? "", e.name).slice(dir.length + 1));
}

/** Creates a key with `scopes` and returns `Authorization` headers for it. */
export async function bearer(
  store: JobStore,
  scopes: string[],
  rateLimitPerMinute: number | null = null,
): Promise<{ headers: { authorization: string }; id: string; token: string }> {
  const { apiKey, token } = await store.apiKeys.create({
    name: `test ${scopes.join("+")}`,
    scopes,
    rateLimitPerMinute,
  });
  return { headers: { authorization: `Bearer ${token}` }, id: apiKey.id, token };
}

let counter = 0;
/** A fresh Idempotency-Key. */
export function idemKey(): string {
  return `test-${process.pid}-${Date.now()}-${counter++}`;
}

/** A small solid PNG. */
export async function png(width = 8, height = 8, value = 128): Promise<Buffer> {
  return sharp(Buffer.alloc(width * height * 3, value), { raw: { width, height, channels: 3 } })
    .png()
    .toBuffer();
}

export { zipToBuffer } from "./archive/zip-writer.js";
