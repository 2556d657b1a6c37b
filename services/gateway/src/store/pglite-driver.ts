/** The embedded driver: PostgreSQL compiled to WASM (PGlite), in memory or in a local data directory. */
import { mkdir } from "node:fs/promises";
import { PGlite, type Transaction, types } from "@electric-sql/pglite";
import { type Database, parseInt8, type Queryable } from "./driver.js";

/** Where PGlite keeps its files. */
export interface PgliteOptions {
  /** A directory for a persistent database (created if missing); omit for an in-memory database. */
  dataDir?: string;
}

/**
 * Opens PGlite. A new data directory takes a few seconds to initialise; reopening is faster. PGlite has
 * one connection: concurrent callers are queued, and a transaction holds the connection until it ends.
 */
export async function openPglite(options: PgliteOptions = {}): Promise<Database> {
  if (options.dataDir !== undefined) await mkdir(options.dataDir, { recursive: true });
  // One options object: PGlite ignores a second argument when the first (dataDir) is undefined.
  const pglite = new PGlite({
    ...(options.dataDir !== undefined ? { dataDir: options.dataDir } : {}),
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
