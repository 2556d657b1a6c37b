/** The embedded driver: PostgreSQL compiled to WASM (PGlite), in memory or in a local data directory. */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { PGlite, type Transaction, types } from "@electric-sql/pglite";
import { type Database, parseInt8, type Queryable } from "./driver.js";

/** Where PGlite keeps its files. */
export interface PgliteOptions {
  /** A directory for a persistent database (created if missing); omit for an in-memory database. */
  dataDir?: string;
}

/**
 * Memory settings of the embedded database: PostgreSQL's defaults (128 MB of shared buffers) are sized for
 * a server, and every page PGlite touches stays in the gateway's resident memory. A job database is a few
 * thousand rows; with these the gateway idles at about half the memory (measured: 345 → 222 MiB resident
 * right after opening a data directory, under tsx).
 */
const MEMORY_SETTINGS = [
  "shared_buffers=16MB",
  "temp_buffers=2MB",
  "work_mem=2MB",
  "maintenance_work_mem=8MB",
];

/**
 * Creates a new data directory in a short-lived child process: initdb's working memory (about 500 MB) is
 * never given back by the WASM heap, so doing it in the gateway would leave the gateway holding it forever.
 */
async function initialiseDataDir(dataDir: string): Promise<void> {
  const script = `const { PGlite } = await import(${JSON.stringify(import.meta.resolve("@electric-sql/pglite"))});
const db = new PGlite(process.argv[1]);
await db.waitReady;
await db.close();`;
  await new Promise<void>((resolve, reject) => {
    execFile(process.execPath, ["--input-type=module", "-e", script, dataDir], (error, _stdout, stderr) =>
      error
        ? reject(new Error(`initialising PGlite in ${dataDir} failed: ${stderr || error.message}`))
        : resolve(),
    );
  });
}

/**
 * Opens PGlite. A new data directory takes a few seconds to initialise; reopening is faster. PGlite has
 * one connection: concurrent callers are queued, and a transaction holds the connection until it ends.
 */
export async function openPglite(options: PgliteOptions = {}): Promise<Database> {
  if (options.dataDir !== undefined) {
    await mkdir(options.dataDir, { recursive: true });
    if (!existsSync(join(options.dataDir, "PG_VERSION"))) await initialiseDataDir(options.dataDir);
  }
  // One options object: PGlite ignores a second argument when the first (dataDir) is undefined.
  const pglite = new PGlite({
    ...(options.dataDir !== undefined ? { dataDir: options.dataDir } : {}),
    postgresqlconf: MEMORY_SETTINGS,
    parsers: { [types.INT8]: parseInt8 },
  });
  await pglite.waitReady;
  return {
    driver: "pglite",
    ...queryable(pglite),
    transaction: (fn) => pglite.transaction((tx) => fn(queryable(tx))),
    close: () => pglite.close(),
  };
}

function queryable(target: PGlite | Transaction): Queryable {
  return {
    async query(sql, params) {
      const result = await target.query<never>(sql, params as unknown[] | undefined);
      // PGlite counts affected rows for DML only; node-postgres counts rows read for SELECT (and for
      // WITH … SELECT). The larger of the two is node-postgres's rowCount in every case.
      return { rows: result.rows, rowCount: Math.max(result.affectedRows ?? 0, result.rows.length) };
    },
    async exec(sql) {
      await target.exec(sql);
    },
  };
}
