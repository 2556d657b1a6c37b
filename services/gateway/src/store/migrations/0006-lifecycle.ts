import type { Migration } from "./migration.js";

/**
 * What deleting and garbage collection need. `dataset_blobs` lists every blob an uploaded dataset holds
 * (its manifest and images), so "is this digest still referenced?" is an index probe, as it is for
 * artifacts. Datasets stored before this migration have `blobs_indexed = false` until the gateway reads
 * their manifests at boot; the collector deletes nothing while any dataset is unindexed. Finished jobs keep
 * their results when their dataset goes: the foreign key becomes `on delete set null`.
 */
export const lifecycle: Migration = {
  version: 6,
  name: "lifecycle",
  sql: `
create table dataset_blobs (
  dataset_id uuid not null references datasets (id) on delete cascade,
  sha256 text not null check (sha256 ~ '^[0-9a-f]{64}$'),
  bytes bigint not null check (bytes >= 0),
  primary key (dataset_id, sha256)
);
create index dataset_blobs_by_sha256 on dataset_blobs (sha256);
alter table datasets add column blobs_indexed boolean not null default false;
update datasets set blobs_indexed = true where kind = 'builtin';
alter table jobs drop constraint jobs_dataset_id_fkey;
alter table jobs add constraint jobs_dataset_id_fkey
  foreign key (dataset_id) references datasets (id) on delete set null;
create index jobs_by_dataset on jobs (dataset_id) where state in ('queued', 'running');
create index jobs_finished_at on jobs (finished_at) where finished_at is not null;
`,
};
