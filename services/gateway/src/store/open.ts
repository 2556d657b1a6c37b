/** Chooses the driver from configuration: a server when a URL is given, embedded PGlite otherwise. */
import type { Database } from "./driver.js";
import { openPostgres } from "./pg-driver.js";
import { openPglite } from "./pglite-driver.js";

/** Where the job store lives. */
export type DatabaseConfig =
  | { kind: "postgres"; url: string; schema?: string; max?: number }
  | { kind: "pglite"; dataDir: string }
  | { kind: "memory" };

/** The default PGlite data directory, relative to the working directory (ignored by git: `.data/`). */
export const DEFAULT_DATA_DIR = ".data/pglite";

/**
 * Reads `DATABASE_URL` (a server; `DATABASE_SCHEMA` optionally picks a schema) or else
 * `DIFFDA_DATA_DIR` (PGlite files under `<dir>/pglite`, default {@link DEFAULT_DATA_DIR}).
 */
export function databaseConfigFromEnv(env: NodeJS.ProcessEnv = process.env): DatabaseConfig {
  const url = env.DATABASE_URL?.trim();
  if (url) {
    const schema = env.DATABASE_SCHEMA?.trim();
    return { kind: "postgres", url, ...(schema ? { schema } : {}) };
  }
  const dataDir = env.DIFFDA_DATA_DIR?.trim();
  return { kind: "pglite", dataDir: dataDir ? `${dataDir.replace(/\/+$/, "")}/pglite` : DEFAULT_DATA_DIR };
}

/** Opens the database a config names. Run {@link migrate} before use. */
export function openDatabase(config: DatabaseConfig): Promise<Database> {
  switch (config.kind) {
    case "postgres":
      return openPostgres({
        connectionString: config.url,
        ...(config.schema !== undefined ? { schema: config.schema } : {}),
        ...(config.max !== undefined ? { max: config.max } : {}),
      });
    case "pglite":
      return openPglite({ dataDir: config.dataDir });
    case "memory":
      return openPglite();
  }
}
