/**
 * Helpers for the gateway's tests (not part of the public API): an app over an in-memory PGlite store and
 * a temporary artifact directory, keys with given scopes, tiny PNGs, and zip and tar archives.
 */
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { crc32, deflateRawSync } from "node:zlib";
import type { FastifyInstance } from "fastify";
import sharp from "sharp";
import { type AppDeps, buildApp } from "./app.js";
import { ArtifactStore } from "./artifact-store.js";
import type { BlobStore } from "./blob-store.js";
import { createAuthFailureThrottle } from "./plugins/auth-failures.js";
import type { RestLimits } from "./routes/context.js";
import { type JobStore, openJobStore } from "./store/index.js";

/** Limits small enough for tests to cross them cheaply. */
export const TEST_LIMITS: RestLimits = {
  jsonBodyBytes: 256 * 1024,
  uploadBodyBytes: 2 * 1024 * 1024,
  adapterBodyBytes: 256 * 1024,
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
  artifacts: BlobStore;
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
    // Suites sweep every route with missing and wrong keys from one address; auth.test checks the backoff.
    authFailures: createAuthFailureThrottle({ freeFailures: 100_000 }),
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

/** One entry of {@link craftZip}: any name, any claimed size, any mode bits. */
export interface CraftedEntry {
  name: string;
  data: Uint8Array;
  /** Default deflate. */
  method?: "store" | "deflate";
  /** Size written in the headers (default: the real one). */
  declaredSize?: number;
  /** Unix mode bits (type included), e.g. 0o120777 for a symlink. Default a regular file. */
  unixMode?: number;
}

/** A zip archive built byte by byte, so tests can write what no honest zip tool would. */
export function craftZip(entries: CraftedEntry[]): Buffer {
  const locals: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const entry of entries) {
    const name = Buffer.from(entry.name, "utf8");
    const raw = Buffer.from(entry.data);
    const stored = entry.method === "store";
    const body = stored ? raw : deflateRawSync(raw);
    const size = entry.declaredSize ?? raw.length;
    const crc = crc32(raw) >>> 0;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(0x0800, 6);
    local.writeUInt16LE(stored ? 0 : 8, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(body.length, 18);
    local.writeUInt32LE(size, 22);
    local.writeUInt16LE(name.length, 26);
    const header = Buffer.alloc(46);
    header.writeUInt32LE(0x02014b50, 0);
    header.writeUInt16LE((3 << 8) | 20, 4);
    header.writeUInt16LE(20, 6);
    header.writeUInt16LE(0x0800, 8);
    header.writeUInt16LE(stored ? 0 : 8, 10);
    header.writeUInt32LE(crc, 16);
    header.writeUInt32LE(body.length, 20);
    header.writeUInt32LE(size, 24);
    header.writeUInt16LE(name.length, 28);
    header.writeUInt32LE(((entry.unixMode ?? 0o100644) << 16) >>> 0, 38);
    header.writeUInt32LE(offset, 42);
    locals.push(local, name, body);
    central.push(header, name);
    offset += 30 + name.length + body.length;
  }
  const directory = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

/** One entry of {@link craftTar}. */
export interface CraftedTarEntry {
  /** The header's name field (at most 100 bytes; longer names need `prefix`, a pax `path` or an `L` entry). */
  name: string;
  data?: Uint8Array;
  /** Type flag (default "0", a regular file): "5" folder, "2" symlink, "x" pax, "L" GNU long name, … */
  type?: string;
  /** POSIX ustar prefix field. */
  prefix?: string;
  linkname?: string;
  /** Default "posix" (`ustar\0` `00`); "gnu" writes `ustar ` ` \0`; "none" a pre-POSIX header. */
  magic?: "posix" | "gnu" | "none";
  /** Size written in the header (default: the data's), and whether in base-256. */
  declaredSize?: number;
  base256?: boolean;
}

/** The data of a pax header holding `records` (`<length> <key>=<value>\n`, the length counting itself). */
export function paxData(records: Record<string, string>): Buffer {
  const lines = Object.entries(records).map(([key, value]) => {
    const body = ` ${key}=${value}\n`;
    let length = Buffer.byteLength(body) + 1;
    while (String(length).length + Buffer.byteLength(body) !== length) length++;
    return `${length}${body}`;
  });
  return Buffer.from(lines.join(""), "utf8");
}

/** One 512-byte tar header with a correct checksum. */
export function tarHeader(entry: CraftedTarEntry): Buffer {
  const header = Buffer.alloc(512);
  const size = entry.declaredSize ?? entry.data?.length ?? 0;
  header.write(entry.name, 0, 100, "utf8");
  header.write("0000644\0", 100, "latin1");
  header.write("0001750\0", 108, "latin1");
  header.write("0001750\0", 116, "latin1");
  if (entry.base256) {
    header[124] = 0x80;
    header.writeUIntBE(size, 130, 6);
  } else header.write(`${size.toString(8).padStart(11, "0")}\0`, 124, "latin1");
  header.write("14712345670\0", 136, "latin1");
  header.write(entry.type ?? "0", 156, "latin1");
  if (entry.linkname) header.write(entry.linkname, 157, 100, "utf8");
  const magic = entry.magic ?? "posix";
  if (magic === "posix") header.write("ustar\u000000", 257, "latin1");
  if (magic === "gnu") header.write("ustar  \u0000", 257, "latin1");
  if (entry.prefix) header.write(entry.prefix, 345, 155, "utf8");
  return sealTarHeader(header);
}

/** Writes the checksum of the tar header in `block` (its first 512 bytes), after a test changed it. */
export function sealTarHeader(block: Buffer): Buffer {
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += block[i];
  block.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "latin1");
  return block;
}

/** A tar archive built block by block (end blocks included unless `end: false`), to write what no tar tool would. */
export function craftTar(entries: CraftedTarEntry[], { end = true } = {}): Buffer {
  const blocks: Buffer[] = [];
  for (const entry of entries) {
    blocks.push(tarHeader(entry));
    const data = Buffer.from(entry.data ?? new Uint8Array());
    blocks.push(data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  if (end) blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

/** A copy of an OpenAPI document with every local `$ref` replaced by what it points to (no cycles here). */
export function dereferenced<T>(doc: T): T {
  const resolve = (pointer: string): unknown =>
    pointer
      .replace(/^#\//, "")
      .split("/")
      .reduce<unknown>((node, part) => (node as Record<string, unknown>)[part], doc);
  const walk = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(walk);
    if (typeof value !== "object" || value === null) return value;
    const { $ref, ...rest } = value as Record<string, unknown>;
    if (typeof $ref === "string") return { ...(walk(resolve($ref)) as object), ...(walk(rest) as object) };
    return Object.fromEntries(Object.entries(rest).map(([key, child]) => [key, walk(child)]));
  };
  return walk(doc) as T;
}
