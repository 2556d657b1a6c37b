/**
 * API keys. A token is `dda_<key id, 32 hex>_<secret, 64 hex>`; the id finds the row, the secret is
 * checked against its stored SHA-256 with a constant-time compare. SHA-256 rather than scrypt: the
 * secret is 256 random bits made here, so no dictionary or brute force applies to a leaked hash, and a
 * fast hash keeps per-request verification cheap. Slow hashes exist for human-chosen passwords.
 */
import { createHash, randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import type { Database } from "./driver.js";
import { StoreError } from "./errors.js";
import { isUuid } from "./ids.js";
import { API_KEY_COLUMNS, toApiKey } from "./rows.js";
import type { ApiKey } from "./types.js";

/** A key being created. */
export interface NewApiKey {
  name: string;
  scopes?: readonly string[];
  /** Requests per minute; omit or null for no limit. */
  rateLimitPerMinute?: number | null;
}

const TOKEN = /^dda_([0-9a-f]{32})_([0-9a-f]{64})$/;
// Compared against when the id is unknown, so a miss costs the same hash and compare as a hit.
const DUMMY_HASH = createHash("sha256").update("diffda:no-such-key").digest();

/** API keys. */
export class ApiKeyRepository {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  /** Creates a key. The token is returned only here: it is not stored and cannot be shown again. */
  async create(input: NewApiKey): Promise<{ apiKey: ApiKey; token: string }> {
    const limit = input.rateLimitPerMinute ?? null;
    if (limit !== null && (!Number.isInteger(limit) || limit < 1)) {
      throw new StoreError("invalid_argument", "rateLimitPerMinute must be a positive integer");
    }
    const id = randomUUID();
    const secret = randomBytes(32);
    const { rows } = await this.#db.query(
      `insert into api_keys (id, name, secret_sha256, scopes, rate_limit_per_minute)
       values ($1, $2, $3, $4::text[], $5)
       returning ${API_KEY_COLUMNS}`,
      [id, input.name, sha256Hex(secret), [...(input.scopes ?? [])], limit],
    );
    return { apiKey: toApiKey(rows[0]), token: `dda_${id.replaceAll("-", "")}_${secret.toString("hex")}` };
  }

  /** The key a token belongs to, or undefined when the token is malformed, unknown, wrong or revoked. */
  async verify(token: string): Promise<ApiKey | undefined> {
    const match = TOKEN.exec(token);
    if (match === null) return undefined;
    const id = match[1].replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, "$1-$2-$3-$4-$5");
    const { rows } = await this.#db.query<{ secret_sha256: string; revoked_at: Date | null }>(
      `select ${API_KEY_COLUMNS}, secret_sha256 from api_keys where id = $1`,
      [id],
    );
    const stored = rows[0] === undefined ? DUMMY_HASH : Buffer.from(rows[0].secret_sha256, "hex");
    const presented = createHash("sha256").update(Buffer.from(match[2], "hex")).digest();
    const equal = timingSafeEqual(stored, presented);
    if (!equal || rows[0] === undefined || rows[0].revoked_at !== null) return undefined;
    return toApiKey(rows[0]);
  }

  /** Revokes a key (kept for audit). False when there is no such key or it was already revoked. */
  async revoke(id: string): Promise<boolean> {
    if (!isUuid(id)) return false;
    const { rowCount } = await this.#db.query(
      "update api_keys set revoked_at = now() where id = $1 and revoked_at is null",
      [id],
    );
    return rowCount === 1;
  }

  /** One key, or undefined. */
  async get(id: string): Promise<ApiKey | undefined> {
    if (!isUuid(id)) return undefined;
    const { rows } = await this.#db.query(`select ${API_KEY_COLUMNS} from api_keys where id = $1`, [id]);
    return rows[0] === undefined ? undefined : toApiKey(rows[0]);
  }

  /** All keys, oldest first, revoked ones included. */
  async list(): Promise<ApiKey[]> {
    const { rows } = await this.#db.query(`select ${API_KEY_COLUMNS} from api_keys order by created_at, id`);
    return rows.map(toApiKey);
  }
}

function sha256Hex(bytes: Buffer): string {
  return createHash("sha256").update(bytes).digest("hex");
}
