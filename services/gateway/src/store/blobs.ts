/**
 * Which content-addressed blobs the store's rows still hold, and how many bytes each API key holds.
 * Garbage collection asks before deleting a file; `GET /v1/usage` reports the key's view. A blob is held
 * by an artifact row (a job's output), a dataset_blobs row (an uploaded dataset's manifest and images) or
 * an adapter row (an uploaded adapter's safetensors).
 */
import type { Database } from "./driver.js";
import { checkUuid } from "./ids.js";

/** Bytes one key holds, per kind of resource. */
export interface StorageUsage {
  datasets: { count: number; bytes: number };
  jobs: { count: number; bytes: number };
  /** Distinct blobs behind both (the store keeps identical content once). */
  distinctBytes: number;
}

/** Queries over every table that references blobs. */
export class BlobRepository {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  /** The subset of `digests` some row still references. */
  async referenced(digests: readonly string[]): Promise<Set<string>> {
    if (digests.length === 0) return new Set();
    const { rows } = await this.#db.query<{ sha256: string }>(
      `select sha256 from artifacts where sha256 = any($1::text[])
       union
       select sha256 from dataset_blobs where sha256 = any($1::text[])
       union
       select sha256 from adapters where sha256 = any($1::text[])`,
      [[...digests]],
    );
    return new Set(rows.map((row) => row.sha256));
  }

  /** Whether every dataset's blobs are listed (until then nothing may be collected). */
  async allIndexed(): Promise<boolean> {
    const { rows } = await this.#db.query<{ pending: boolean }>(
      "select exists (select 1 from datasets where not blobs_indexed) as pending",
    );
    return rows[0].pending === false;
  }

  /** What `apiKeyId` holds (every key's resources when undefined: the admin view). */
  async usage(apiKeyId?: string | null): Promise<StorageUsage> {
    checkUuid("apiKeyId", apiKeyId);
    const all = apiKeyId === undefined;
    const { rows } = await this.#db.query<Record<string, number | string | null>>(
      `with d as (select id from datasets where kind = 'upload' and ($1 or api_key_id is not distinct from $2::uuid)),
            j as (select id from jobs where $1 or api_key_id is not distinct from $2::uuid),
            db as (select sha256, bytes from dataset_blobs where dataset_id in (select id from d)),
            ja as (select sha256, bytes from artifacts where job_id in (select id from j))
       select (select count(*) from d) as dataset_count,
              (select coalesce(sum(bytes), 0) from db) as dataset_bytes,
              (select count(*) from j) as job_count,
              (select coalesce(sum(bytes), 0) from ja) as job_bytes,
              (select coalesce(sum(bytes), 0) from
                 (select sha256, max(bytes) as bytes from (select * from db union all select * from ja) b
                   group by sha256) u) as distinct_bytes`,
      [all, all ? null : apiKeyId],
    );
    const n = (value: unknown) => Number(value ?? 0);
    const row = rows[0];
    return {
      datasets: { count: n(row.dataset_count), bytes: n(row.dataset_bytes) },
      jobs: { count: n(row.job_count), bytes: n(row.job_bytes) },
      distinctBytes: n(row.distinct_bytes),
    };
  }
}
