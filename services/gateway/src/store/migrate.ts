/**
 * Applies the schema migrations. Two gateway replicas starting together must not both apply them, so
 * the whole run holds a transaction-scoped advisory lock keyed by the schema name: the second replica
 * waits, then finds everything applied. One transaction for all pending migrations means a failure
 * leaves the schema exactly as it was (PostgreSQL DDL is transactional).
 */
import { createHash } from "node:crypto";
import type { Database } from "./driver.js";
import { StoreError } from "./errors.js";
import { MIGRATIONS, type Migration } from "./migrations/index.js";

/** What a run did. */
export interface MigrateResult {
  /** Versions applied by this call, in order; empty when the schema was up to date. */
  applied: number[];
}

/**
 * Brings the schema up to date. Verifies the checksum of every migration already applied and throws
 * `migration_checksum` when one differs (someone edited a released migration). Versions in the database
 * that this code does not know (a newer replica ran) are left alone, so a rolling deploy keeps working
 * as long as migrations are additive.
 */
export async function migrate(
  db: Database,
  migrations: readonly Migration[] = MIGRATIONS,
): Promise<MigrateResult> {
  checkOrder(migrations);
  return db.transaction(async (tx) => {
    await tx.query("select pg_advisory_xact_lock(hashtext('diffda:migrate:' || current_schema()))");
    await tx.exec(`
      create table if not exists schema_migrations (
        version integer primary key,
        name text not null,
        checksum text not null,
        applied_at timestamptz(3) not null default now()
      )`);
    const { rows } = await tx.query<{ version: number; checksum: string }>(
      "select version, checksum from schema_migrations order by version",
    );
    const done = new Map(rows.map((row) => [row.version, row.checksum]));
    const applied: number[] = [];
    for (const migration of migrations) {
      const sum = checksum(migration);
      const previous = done.get(migration.version);
      if (previous !== undefined) {
        if (previous !== sum) {
          throw new StoreError(
            "migration_checksum",
            `migration ${migration.version} (${migration.name}) differs from the one applied to this database`,
          );
        }
        continue;
      }
      await tx.exec(migration.sql);
      await tx.query("insert into schema_migrations (version, name, checksum) values ($1, $2, $3)", [
        migration.version,
        migration.name,
        sum,
      ]);
      applied.push(migration.version);
    }
    return { applied };
  });
}

function checksum(migration: Migration): string {
  return createHash("sha256").update(migration.sql).digest("hex");
}

function checkOrder(migrations: readonly Migration[]): void {
  for (let i = 1; i < migrations.length; i++) {
    if (migrations[i].version <= migrations[i - 1].version) {
      throw new Error(`migrations out of order at version ${migrations[i].version}`);
    }
  }
}
