/** The server driver: node-postgres over a connection pool, for a real PostgreSQL (DATABASE_URL). */
import pg from "pg";
import { type Database, parseInt8, type Queryable } from "./driver.js";

/** How to reach the server. */
export interface PostgresOptions {
  /** A libpq-style URL, e.g. `postgres://user:pass@host:5432/db`. */
  connectionString: string;
  /** Schema to work in (sets `search_path` on every connection); must already exist. Default: server's. */
  schema?: string;
  /** Pool size. Default 10. */
  max?: number;
  /** Called when an idle pooled connection fails (server restart); the pool replaces it. */
  onIdleError?: (error: Error) => void;
}

const INT8_OID = 20;

/** Per-pool type parsers (never the process-global `pg.types`), so int8 parses like PGlite's. */
const typeParsers = {
  getTypeParser: ((oid: number, format?: "text" | "binary") =>
    oid === INT8_OID && format !== "binary"
      ? parseInt8
      : pg.types.getTypeParser(oid, format ?? "text")) as typeof pg.types.getTypeParser,
};

/** Opens a connection pool; the first query connects. */
export async function openPostgres(options: PostgresOptions): Promise<Database> {
  if (options.schema !== undefined && !/^[a-z_][a-z0-9_]*$/.test(options.schema)) {
    throw new Error(`invalid schema name ${JSON.stringify(options.schema)}`);
  }
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.max ?? 10,
    types: typeParsers,
    ...(options.schema !== undefined ? { options: `-c search_path=${options.schema}` } : {}),
  });
  pool.on("error", (error) => options.onIdleError?.(error));
  return {
    driver: "postgres",
    ...queryable(pool),
    async transaction(fn) {
      const client = await pool.connect();
      let broken: Error | undefined;
      try {
        await client.query("begin");
        const result = await fn(queryable(client));
        await client.query("commit");
        return result;
      } catch (error) {
        try {
          await client.query("rollback");
        } catch (rollbackError) {
          broken = rollbackError as Error; // the connection is unusable: drop it from the pool
        }
        throw error;
      } finally {
        client.release(broken);
      }
    },
    close: () => pool.end(),
  };
}

function queryable(target: pg.Pool | pg.PoolClient): Queryable {
  return {
    async query(sql, params) {
      const result = await target.query(sql, params as unknown[] | undefined);
      return { rows: result.rows, rowCount: result.rowCount ?? result.rows.length };
    },
    async exec(sql) {
      await target.query(sql); // no parameters: the simple protocol, which accepts several statements
    },
  };
}
