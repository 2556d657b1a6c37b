/** Adapters: LoRA and textual-inversion files jobs apply by id instead of fine-tuning. */
import { randomUUID } from "node:crypto";
import { decodeCursor, pageLimit, toPage } from "./cursor.js";
import { type Database, json, sqlState } from "./driver.js";
import { StoreError } from "./errors.js";
import { checkUuid, isUuid } from "./ids.js";
import type { Adapter, Page } from "./types.js";

/** An adapter being registered (its file already in the artifact store). */
export interface NewAdapter {
  /** Default: a random uuid. */
  id?: string;
  apiKeyId?: string | null;
  name: string;
  kind: Adapter["kind"];
  baseModel: string;
  sha256: string;
  bytes: number;
  tokens?: readonly string[];
  loraRank?: number;
  loraAlpha?: number;
  sourceJobId?: string | null;
}

/** What deleting an adapter did. */
export type AdapterDeleteOutcome =
  | { outcome: "deleted"; sha256: string }
  | { outcome: "not_found" }
  | { outcome: "in_use"; jobIds: string[] };

const COLUMNS =
  "id, api_key_id, name, kind, base_model, sha256, bytes, tokens, lora_rank, lora_alpha, source_job_id, created_at";

function toAdapter(row: Record<string, unknown>): Adapter {
  return {
    id: row.id as string,
    apiKeyId: row.api_key_id as string | null,
    name: row.name as string,
    kind: row.kind as Adapter["kind"],
    baseModel: row.base_model as string,
    sha256: row.sha256 as string,
    bytes: row.bytes as number,
    tokens: row.tokens as string[],
    loraRank: row.lora_rank as number,
    loraAlpha: Number(row.lora_alpha),
    sourceJobId: row.source_job_id as string | null,
    createdAt: row.created_at as Date,
  };
}

/** Adapters. */
export class AdapterRepository {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  /** Registers an adapter. */
  async create(input: NewAdapter): Promise<Adapter> {
    checkUuid("id", input.id);
    checkUuid("apiKeyId", input.apiKeyId);
    checkUuid("sourceJobId", input.sourceJobId);
    if (!/^[0-9a-f]{64}$/.test(input.sha256))
      throw new StoreError("invalid_argument", "sha256 must be 64 hex digits");
    if (!Number.isSafeInteger(input.bytes) || input.bytes < 0)
      throw new StoreError("invalid_argument", "bytes must be a non-negative integer");
    const id = input.id ?? randomUUID();
    try {
      const { rows } = await this.#db.query(
        `insert into adapters (id, api_key_id, name, kind, base_model, sha256, bytes, tokens, lora_rank, lora_alpha,
                               source_job_id)
         values ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10, $11)
         returning ${COLUMNS}`,
        [
          id,
          input.apiKeyId ?? null,
          input.name,
          input.kind,
          input.baseModel,
          input.sha256,
          input.bytes,
          json([...(input.tokens ?? [])]),
          input.loraRank ?? 0,
          input.loraAlpha ?? 0,
          input.sourceJobId ?? null,
        ],
      );
      return toAdapter(rows[0]);
    } catch (error) {
      if (sqlState(error) === "23503") throw new StoreError("invalid_argument", "unknown API key or job");
      if (sqlState(error) === "23505") throw new StoreError("conflict", `an adapter with id ${id} exists`);
      if (sqlState(error) === "23514")
        throw new StoreError("invalid_argument", "an adapter field is out of range");
      throw error;
    }
  }

  /** One adapter, or undefined. */
  async get(id: string): Promise<Adapter | undefined> {
    if (!isUuid(id)) return undefined;
    const { rows } = await this.#db.query(`select ${COLUMNS} from adapters where id = $1`, [id]);
    return rows[0] === undefined ? undefined : toAdapter(rows[0]);
  }

  /** Newest first, keyset-paginated like datasets. With `apiKeyId`, only that key's adapters. */
  async list(options: { limit?: number; cursor?: string; apiKeyId?: string } = {}): Promise<Page<Adapter>> {
    const limit = pageLimit(options.limit);
    checkUuid("apiKeyId", options.apiKeyId);
    const after = options.cursor === undefined ? undefined : decodeCursor(options.cursor);
    const { rows } = await this.#db.query(
      `select ${COLUMNS} from adapters
        where ($1::uuid is null or api_key_id = $1::uuid)
          and ($2::timestamptz is null or (created_at, id) < ($2::timestamptz, $3::uuid))
        order by created_at desc, id desc
        limit $4`,
      [options.apiKeyId ?? null, after?.createdAt ?? null, after?.id ?? null, limit + 1],
    );
    return toPage(rows.map(toAdapter), limit);
  }

  /**
   * Deletes an adapter unless a queued or running job uses it (`in_use`, with up to five of them). Returns
   * its digest for the caller to free if nothing else holds it. The row lock orders this against a job
   * submission naming it: that insert either fails on the foreign key or is seen here.
   */
  async delete(id: string): Promise<AdapterDeleteOutcome> {
    if (!isUuid(id)) return { outcome: "not_found" };
    return this.#db.transaction(async (tx) => {
      const locked = await tx.query<{ sha256: string }>(
        "select sha256 from adapters where id = $1 for update",
        [id],
      );
      if (locked.rows.length === 0) return { outcome: "not_found" };
      const live = await tx.query<{ id: string }>(
        `select j.id from job_adapters ja join jobs j on j.id = ja.job_id
          where ja.adapter_id = $1 and j.state in ('queued', 'running')
          order by j.created_at limit 5`,
        [id],
      );
      if (live.rows.length > 0) return { outcome: "in_use", jobIds: live.rows.map((row) => row.id) };
      await tx.query("delete from adapters where id = $1", [id]);
      return { outcome: "deleted", sha256: locked.rows[0].sha256 };
    });
  }

  /** The adapters a job was created with. */
  async ofJob(jobId: string): Promise<Adapter[]> {
    if (!isUuid(jobId)) return [];
    const { rows } = await this.#db.query(
      `select ${COLUMNS.split(", ")
        .map((c) => `a.${c}`)
        .join(", ")}
         from job_adapters ja join adapters a on a.id = ja.adapter_id where ja.job_id = $1 order by a.id`,
      [jobId],
    );
    return rows.map(toAdapter);
  }
}
