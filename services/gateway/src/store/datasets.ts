/** Datasets: the image sets jobs run on (built-in or uploaded). */
import { randomUUID } from "node:crypto";
import { decodeCursor, pageLimit, toPage } from "./cursor.js";
import { type Database, json, type Queryable } from "./driver.js";
import { StoreError } from "./errors.js";
import { checkUuid, isUuid } from "./ids.js";
import { DATASET_COLUMNS, toDataset } from "./rows.js";
import type { Dataset, Page } from "./types.js";

/** A dataset being registered. */
export interface NewDataset {
  /** Default: a random uuid. */
  id?: string;
  name: string;
  kind: "builtin" | "upload";
  spec: unknown;
  imageCount: number;
  classes: readonly string[];
  apiKeyId?: string | null;
  /** Every blob the dataset holds in the artifact store (manifest and images), for garbage collection. */
  blobs?: readonly StoredBlobRef[];
}

/** A blob a dataset or job holds: its digest and size. */
export interface StoredBlobRef {
  sha256: string;
  bytes: number;
}

/** What deleting a dataset did. */
export type DatasetDeleteOutcome =
  | { outcome: "deleted"; blobs: string[] }
  | { outcome: "not_found" }
  | { outcome: "in_use"; jobIds: string[] };

/** Jobs in these states still read their dataset. */
const LIVE = "('queued', 'running')";

/** Datasets. */
export class DatasetRepository {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  /** Registers a dataset. */
  async create(input: NewDataset): Promise<Dataset> {
    if (!Number.isInteger(input.imageCount) || input.imageCount < 0) {
      throw new StoreError("invalid_argument", "imageCount must be a non-negative integer");
    }
    checkUuid("id", input.id);
    checkUuid("apiKeyId", input.apiKeyId);
    const id = input.id ?? randomUUID();
    return this.#db.transaction(async (tx) => {
      const { rows } = await tx.query(
        `insert into datasets (id, name, kind, spec, image_count, classes, api_key_id, blobs_indexed)
         values ($1, $2, $3, $4::jsonb, $5, $6::text[], $7, true)
         returning ${DATASET_COLUMNS}`,
        [
          id,
          input.name,
          input.kind,
          json(input.spec ?? {}),
          input.imageCount,
          [...input.classes],
          input.apiKeyId ?? null,
        ],
      );
      await insertBlobs(tx, id, input.blobs ?? []);
      return toDataset(rows[0]);
    });
  }

  /**
   * Deletes a dataset unless a queued or running job reads it (`in_use`, with up to five of them).
   * Finished jobs keep their results (their datasetId becomes null). Returns the digests the dataset
   * held, for the caller to free those nothing else references. The row lock makes a concurrent job
   * submission either see the dataset gone (its insert fails on the foreign key) or be seen here.
   */
  async delete(id: string): Promise<DatasetDeleteOutcome> {
    if (!isUuid(id)) return { outcome: "not_found" };
    return this.#db.transaction(async (tx) => {
      const locked = await tx.query("select id from datasets where id = $1 for update", [id]);
      if (locked.rows.length === 0) return { outcome: "not_found" };
      const live = await tx.query<{ id: string }>(
        `select id from jobs where dataset_id = $1 and state in ${LIVE} order by created_at limit 5`,
        [id],
      );
      if (live.rows.length > 0) return { outcome: "in_use", jobIds: live.rows.map((row) => row.id) };
      const blobs = await tx.query<{ sha256: string }>(
        "select sha256 from dataset_blobs where dataset_id = $1",
        [id],
      );
      await tx.query("delete from datasets where id = $1", [id]);
      return { outcome: "deleted", blobs: blobs.rows.map((row) => row.sha256) };
    });
  }

  /** Uploaded datasets created before `before` that no live job reads (retention candidates). */
  async expired(before: Date, limit = 100): Promise<string[]> {
    const { rows } = await this.#db.query<{ id: string }>(
      `select d.id from datasets d
        where d.kind = 'upload' and d.created_at < $1
          and not exists (select 1 from jobs j where j.dataset_id = d.id and j.state in ${LIVE})
        order by d.created_at limit $2`,
      [before, limit],
    );
    return rows.map((row) => row.id);
  }

  /** Datasets whose blobs are not listed yet (stored before blob listing existed), with their spec. */
  async unindexed(limit = 100): Promise<Dataset[]> {
    const { rows } = await this.#db.query(
      `select ${DATASET_COLUMNS} from datasets where not blobs_indexed order by created_at limit $1`,
      [limit],
    );
    return rows.map(toDataset);
  }

  /** Records the blobs of a dataset stored before blob listing existed. */
  async indexBlobs(id: string, blobs: readonly StoredBlobRef[]): Promise<void> {
    checkUuid("id", id);
    await this.#db.transaction(async (tx) => {
      await insertBlobs(tx, id, blobs);
      await tx.query("update datasets set blobs_indexed = true where id = $1", [id]);
    });
  }

  /** One dataset, or undefined. */
  async get(id: string): Promise<Dataset | undefined> {
    if (!isUuid(id)) return undefined;
    const { rows } = await this.#db.query(`select ${DATASET_COLUMNS} from datasets where id = $1`, [id]);
    return rows[0] === undefined ? undefined : toDataset(rows[0]);
  }

  /**
   * Newest first, keyset-paginated like jobs. With `apiKeyId`, the key's own datasets and the shared
   * ones (no owner: built-ins).
   */
  async list(options: { limit?: number; cursor?: string; apiKeyId?: string } = {}): Promise<Page<Dataset>> {
    const limit = pageLimit(options.limit);
    checkUuid("apiKeyId", options.apiKeyId);
    const after = options.cursor === undefined ? undefined : decodeCursor(options.cursor);
    const { rows } = await this.#db.query(
      `select ${DATASET_COLUMNS} from datasets
        where ($1::uuid is null or api_key_id is null or api_key_id = $1::uuid)
          and ($2::timestamptz is null or (created_at, id) < ($2::timestamptz, $3::uuid))
        order by created_at desc, id desc
        limit $4`,
      [options.apiKeyId ?? null, after?.createdAt ?? null, after?.id ?? null, limit + 1],
    );
    return toPage(rows.map(toDataset), limit);
  }
}

async function insertBlobs(tx: Queryable, datasetId: string, blobs: readonly StoredBlobRef[]): Promise<void> {
  if (blobs.length === 0) return;
  for (const blob of blobs) {
    if (!/^[0-9a-f]{64}$/.test(blob.sha256))
      throw new StoreError("invalid_argument", "sha256 must be 64 hex digits");
  }
  await tx.query(
    `insert into dataset_blobs (dataset_id, sha256, bytes)
     select $1, x.sha256, x.bytes from jsonb_to_recordset($2::jsonb) as x(sha256 text, bytes bigint)
     on conflict do nothing`,
    [datasetId, json(blobs.map((b) => ({ sha256: b.sha256, bytes: b.bytes })))],
  );
}
