/**
 * Opaque keyset cursors over (created_at, id), newest first. The cursor is base64url JSON of the last
 * row's position; timestamps are millisecond-precision columns, so the Date round-trips exactly and
 * `(created_at, id) < (cursor)` neither repeats nor skips a row, however many rows are inserted meanwhile.
 * Lists that never change (a dataset's manifest) page by position instead, with {@link pageOfList}.
 */
import { StoreError } from "./errors.js";
import type { Page } from "./types.js";

/** The position of a row in a newest-first listing. */
export interface Position {
  createdAt: Date;
  id: string;
}

/** Makes the cursor that continues after `position`. */
export function encodeCursor(position: Position): string {
  return Buffer.from(JSON.stringify([position.createdAt.toISOString(), position.id])).toString("base64url");
}

/**
 * Reads a cursor made by {@link encodeCursor}; throws `invalid_cursor` for anything else. `idPattern`
 * is what the list's ids look like (default: uuids).
 */
export function decodeCursor(cursor: string, idPattern = /^[0-9a-f-]{36}$/): Position {
  const parsed = parseCursor(cursor);
  if (
    Array.isArray(parsed) &&
    parsed.length === 2 &&
    typeof parsed[0] === "string" &&
    typeof parsed[1] === "string" &&
    idPattern.test(parsed[1])
  ) {
    const createdAt = new Date(parsed[0]);
    if (!Number.isNaN(createdAt.getTime())) return { createdAt, id: parsed[1] };
  }
  throw invalidCursor();
}

/** The JSON inside a cursor; `invalid_cursor` if there is none. */
function parseCursor(cursor: string): unknown {
  try {
    return JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    throw invalidCursor();
  }
}

function invalidCursor(): StoreError {
  return new StoreError("invalid_cursor", "the cursor is not valid");
}

/** Page size bounds shared by every list. */
export function pageLimit(limit: number | undefined, fallback = 20, max = 100): number {
  const value = limit ?? fallback;
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new StoreError("invalid_argument", `limit must be an integer between 1 and ${max}`);
  }
  return value;
}

/** Turns `limit + 1` fetched rows into a page: the extra row only tells that another page exists. */
export function toPage<T extends Position>(
  rows: T[],
  limit: number,
): { items: T[]; nextCursor: string | null } {
  if (rows.length <= limit) return { items: rows, nextCursor: null };
  const items = rows.slice(0, limit);
  return { items, nextCursor: encodeCursor(items[items.length - 1]) };
}

/**
 * A page of a list that never changes once made (a dataset's files, in manifest order), sized and
 * continued like the keyset lists. The cursor is base64url JSON of the next position: opaque to callers,
 * and never mistaken for a keyset cursor (an object, not an array).
 */
export function pageOfList<T>(items: readonly T[], options: { limit?: number; cursor?: string }): Page<T> {
  const limit = pageLimit(options.limit);
  const start = options.cursor === undefined ? 0 : decodeListCursor(options.cursor);
  const end = start + limit;
  return {
    items: items.slice(start, end),
    nextCursor: end < items.length ? Buffer.from(JSON.stringify({ at: end })).toString("base64url") : null,
  };
}

function decodeListCursor(cursor: string): number {
  const parsed = parseCursor(cursor);
  const at = typeof parsed === "object" && parsed !== null ? (parsed as { at?: unknown }).at : undefined;
  if (typeof at !== "number" || !Number.isSafeInteger(at) || at < 1) throw invalidCursor();
  return at;
}
