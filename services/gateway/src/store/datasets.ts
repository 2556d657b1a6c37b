/** Datasets: the image sets jobs run on (built-in or uploaded). */
import { randomUUID } from "node:crypto";
import { decodeCursor, pageLimit, toPage } from "./cursor.js";
import { type Database, json } from "./driver.js";
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
}

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
    const { rows } = await this.#db.query(
      `insert into datasets (id, name, kind, spec, image_count, classes, api_key_id)
       values ($1, $2, $3, $4::jsonb, $5, $6::text[], $7)
       returning ${DATASET_COLUMNS}`,
      [
        input.id ?? randomUUID(),
        input.name,
        input.kind,
        json(input.spec ?? {}),
        input.imageCount,
        [...input.classes],
        input.apiKeyId ?? null,
      ],
    );
    return toDataset(rows[0]);
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
