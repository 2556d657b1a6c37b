/**
 * Artifact metadata. The identity of an output is (job, key) — e.g. `synthetic/<shard>/<index>` — so a
 * shard that runs twice (a retry after its replica died) records each image once: the second insert is
 * a no-op and reports the row that was already there.
 */
import { type Database, json } from "./driver.js";
import { StoreError } from "./errors.js";
import { checkUuid, isUuid } from "./ids.js";
import { ARTIFACT_COLUMNS, toArtifact } from "./rows.js";
import type { Artifact } from "./types.js";

/** An artifact being recorded; the file is already in the content-addressed store. */
export interface NewArtifact {
  jobId: string;
  key: string;
  kind: string;
  /** Lower-case hex SHA-256 of the content. */
  sha256: string;
  bytes: number;
  /** Path inside the artifact store (derived from the digest, never from a request). */
  path: string;
  meta?: unknown;
}

/** Artifact metadata. */
export class ArtifactRepository {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  /**
   * Records an artifact unless (jobId, key) exists. `created` tells which happened; `artifact` is the
   * stored row either way, so a caller can compare digests (a deterministic re-run gives the same one).
   */
  async put(input: NewArtifact): Promise<{ created: boolean; artifact: Artifact }> {
    checkUuid("jobId", input.jobId);
    if (!/^[0-9a-f]{64}$/.test(input.sha256))
      throw new StoreError("invalid_argument", "sha256 must be 64 hex digits");
    const inserted = await this.#db.query(
      `insert into artifacts (job_id, key, kind, sha256, bytes, path, meta)
       values ($1, $2, $3, $4, $5, $6, coalesce($7::jsonb, '{}'))
       on conflict (job_id, key) do nothing
       returning ${ARTIFACT_COLUMNS}`,
      [input.jobId, input.key, input.kind, input.sha256, input.bytes, input.path, json(input.meta)],
    );
    if (inserted.rows.length > 0) return { created: true, artifact: toArtifact(inserted.rows[0]) };
    const existing = await this.get(input.jobId, input.key);
    return { created: false, artifact: existing! };
  }

  /** One artifact, or undefined. */
  async get(jobId: string, key: string): Promise<Artifact | undefined> {
    if (!isUuid(jobId)) return undefined;
    const { rows } = await this.#db.query(
      `select ${ARTIFACT_COLUMNS} from artifacts where job_id = $1 and key = $2`,
      [jobId, key],
    );
    return rows[0] === undefined ? undefined : toArtifact(rows[0]);
  }

  /**
   * A job's artifacts in key order, optionally only keys starting with `prefix`, at most `limit`
   * after the key `afterKey` (keyset pagination on the key).
   */
  async list(
    jobId: string,
    options: { prefix?: string; afterKey?: string; limit?: number } = {},
  ): Promise<Artifact[]> {
    if (!isUuid(jobId)) return [];
    const { rows } = await this.#db.query(
      `select ${ARTIFACT_COLUMNS} from artifacts
        where job_id = $1
          and ($2::text is null or starts_with(key, $2::text))
          and ($3::text is null or key > $3::text)
        order by key
        limit $4`,
      [jobId, options.prefix ?? null, options.afterKey ?? null, options.limit ?? 1000],
    );
    return rows.map(toArtifact);
  }

  /** Whether any artifact still references a digest (before deleting the file from the store). */
  async isReferenced(sha256: string): Promise<boolean> {
    const { rows } = await this.#db.query(
      "select exists (select 1 from artifacts where sha256 = $1) as referenced",
      [sha256],
    );
    return rows[0].referenced === true;
  }
}
