/**
 * The SQL driver contract the store is written against: one `query` and one `transaction`, implemented
 * over PGlite (embedded) and node-postgres (a server). Both drivers agree on these representations:
 *
 * | PostgreSQL            | JavaScript (rows)                 | parameters                                   |
 * |-----------------------|-----------------------------------|----------------------------------------------|
 * | `int2`/`int4`/`int8`  | `number` (int8 throws beyond 2^53) | `number`                                     |
 * | `timestamptz(3)`      | `Date` (milliseconds, exact)       | `Date` or ISO string                         |
 * | `jsonb`               | parsed value                       | `json(value)` — a JSON string, cast `::jsonb` |
 * | `text[]`              | `string[]`                         | `string[]`                                   |
 * | `uuid`, `text`        | `string`                           | `string`                                     |
 *
 * jsonb parameters are always passed as JSON text (see {@link json}) because node-postgres turns a JS
 * array into a PostgreSQL array literal, which would corrupt a jsonb array; a string is read the same way
 * by both drivers.
 */

/** A result row: column name → value, with the representations in the table above. */
type Row = Record<string, unknown>;

/** What a statement returned. */
interface QueryResult<R extends Row = Row> {
  /** The rows, as objects keyed by column name. */
  rows: R[];
  /** Rows inserted/updated/deleted by a DML statement (with or without RETURNING); rows read by a SELECT. */
  rowCount: number;
}

/** Anything that runs one statement: a database, or the connection of an open transaction. */
export interface Queryable {
  /** Runs one statement with positional parameters `$1…$n`. */
  query<R extends Row = Row>(sql: string, params?: readonly unknown[]): Promise<QueryResult<R>>;
  /** Runs a script of several statements without parameters (migrations). */
  exec(sql: string): Promise<void>;
}

/** A database handle: statements, transactions, and closing. */
export interface Database extends Queryable {
  /** Which implementation this is, for logs and for tests that only make sense on one of them. */
  readonly driver: "pglite" | "postgres";
  /**
   * Runs `fn` inside BEGIN … COMMIT on one connection; any error rolls back and is rethrown. Use only the
   * `tx` handed to `fn` inside it (PGlite serialises all work behind a running transaction, so calling the
   * outer handle from inside would wait forever). Isolation is READ COMMITTED on both drivers.
   */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Closes the connection(s); the handle is unusable afterwards. */
  close(): Promise<void>;
}

/**
 * Serialises a value for a `$n::jsonb` parameter; `undefined` and `null` become SQL NULL, so a jsonb column
 * never holds the JSON literal `null` by accident.
 */
export function json(value: unknown): string | null {
  return value === undefined || value === null ? null : JSON.stringify(value);
}

/** Parses an int8 text value to a number, refusing values a double cannot hold exactly. */
export function parseInt8(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value))
    throw new RangeError(`int8 value ${text} is outside the safe integer range`);
  return value;
}

/** The SQLSTATE of a database error from either driver (both expose it as `code`), or undefined. */
export function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}
