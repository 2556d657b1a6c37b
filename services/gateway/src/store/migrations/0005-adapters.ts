import type { Migration } from "./migration.js";

/**
 * Adapters as resources: LoRA and textual-inversion files uploaded (checked against their base model
 * first) and kept in the artifact store, which jobs name by id instead of fine-tuning. `job_adapters`
 * records which jobs use which adapter, so deleting one can refuse while a queued or running job needs
 * its file; finished jobs' rows go with the adapter. Version 5 was left free for this.
 */
export const adapters: Migration = {
  version: 5,
  name: "adapters",
  sql: `
create table adapters (
  id uuid primary key,
  api_key_id uuid references api_keys (id) on delete cascade, -- owner; null in the embedded mode
  name text not null,
  kind text not null check (kind in ('lora', 'textual_inversion')),
  base_model text not null,
  sha256 text not null check (sha256 ~ '^[0-9a-f]{64}$'),
  bytes bigint not null check (bytes >= 0),
  tokens jsonb not null default '[]',
  lora_rank integer not null default 0 check (lora_rank >= 0),
  lora_alpha double precision not null default 0 check (lora_alpha >= 0),
  source_job_id uuid references jobs (id) on delete set null, -- the job that trained it, if any
  created_at timestamptz(3) not null default now()
);
create index adapters_by_key_created on adapters (api_key_id, created_at desc, id desc);
create index adapters_by_sha256 on adapters (sha256);

create table job_adapters (
  job_id uuid not null references jobs (id) on delete cascade,
  adapter_id uuid not null references adapters (id) on delete cascade,
  primary key (job_id, adapter_id)
);
create index job_adapters_by_adapter on job_adapters (adapter_id);
`,
};
