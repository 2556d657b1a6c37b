/**
 * Databases for the contract suite (store.contract.ts): PGlite in memory, and a throwaway schema on the
 * PostgreSQL at DIFFDA_TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test) when one
 * answers. Test-only: not part of the store's public API.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import type { Database } from "./driver.js";
import { migrate } from "./migrate.js";
import { openPostgres } from "./pg-driver.js";
import { openPglite } from "./pglite-driver.js";

/** A migrated database the contract runs against. */
export interface Target {
  readonly name: "pglite" | "postgres";
  readonly db: Database;
  /** Another handle on the same database: a second pool for Postgres; PGlite has only one connection. */
  other(): Promise<Database>;
  /**
   * Two handles on a new, empty (unmigrated) database, for migration races. For Postgres, two pools on
   * a new schema; for PGlite, one fresh instance twice.
   */
  fresh(): Promise<[Database, Database]>;
  /** Empties every table between tests. */
  reset(): Promise<void>;
  /** Closes every handle and drops what was created. */
  close(): Promise<void>;
}

const TABLES =
  "job_adapters, adapters, webhook_deliveries, webhook_secrets, job_events, artifacts, task_dependencies, tasks, jobs, datasets, idempotency_keys, rate_limit_buckets, api_keys";

/** The URL the Postgres contract run uses. */
export const TEST_DATABASE_URL =
  process.env.DIFFDA_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";

/** An in-memory PGlite, migrated. */
export async function pgliteTarget(): Promise<Target> {
  const db = await openPglite();
  await migrate(db);
  const extra: Database[] = [];
  return {
    name: "pglite",
    db,
    other: async () => db,
    async fresh() {
      const fresh = await openPglite();
      extra.push(fresh);
      return [fresh, fresh];
    },
    reset: () => db.exec(`truncate ${TABLES} restart identity cascade`),
    async close() {
      for (const handle of extra) await handle.close();
      await db.close();
    },
  };
}

/**
 * A Postgres target in a schema of its own (`diffda_test_<random>`, dropped by close), or a reason to
 * skip when nothing listens at the URL. Any other connection failure (bad password, no such database)
 * is an error, not a skip: CI must not go green because its database is misconfigured.
 */
export async function postgresTarget(): Promise<Target | { skip: string }> {
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL, connectionTimeoutMillis: 5_000 });
  try {
    await admin.connect();
  } catch (error) {
    if (isConnectionRefused(error)) {
      return { skip: `PostgreSQL not reachable at ${redact(TEST_DATABASE_URL)} (connection refused)` };
    }
    throw error;
  }
  const schemas: string[] = [];
  const handles: Database[] = [];
  const newSchema = async (): Promise<string> => {
    const schema = `diffda_test_${randomBytes(6).toString("hex")}`;
    await admin.query(`create schema ${schema}`);
    schemas.push(schema);
    return schema;
  };
  const open = async (schema: string): Promise<Database> => {
    const db = await openPostgres({ connectionString: TEST_DATABASE_URL, schema, max: 4 });
    handles.push(db);
    return db;
  };
  const schema = await newSchema();
  const db = await open(schema);
  await migrate(db);
  return {
    name: "postgres",
    db,
    other: () => open(schema),
    async fresh() {
      const fresh = await newSchema();
      return [await open(fresh), await open(fresh)];
    },
    reset: () => db.exec(`truncate ${TABLES} restart identity cascade`),
    async close() {
      for (const handle of handles) await handle.close();
      for (const name of schemas) await admin.query(`drop schema ${name} cascade`);
      await admin.end();
    },
  };
}

function isConnectionRefused(error: unknown): boolean {
  const e = error as { code?: string; errors?: { code?: string }[] };
  return (
    e?.code === "ECONNREFUSED" ||
    ((e?.errors?.length ?? 0) > 0 && e.errors!.every((x) => x.code === "ECONNREFUSED"))
  );
}

function redact(url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]*@/, "//$1:***@");
}

/** Waits `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
