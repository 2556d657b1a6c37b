import type { Migration } from "./migration.js";

/**
 * The first schema. Conventions: ids are uuids made by the gateway (so a caller knows them before the
 * insert commits); record timestamps (created/updated/started/finished) are `timestamptz(3)` so they
 * round-trip a JS Date exactly, which keyset cursors rely on, while the deadlines compared with `now()`
 * (run_after, lease_expires_at, locked_until, expires_at) keep full precision: rounding `now() + 0` to a
 * millisecond could put it up to 0.5 ms in the future and make a due task briefly not due; states are text with CHECK constraints (readable in psql, easy to extend in a later
 * migration, unlike an enum type); JSON documents are jsonb.
 */
export const initial: Migration = {
  version: 1,
  name: "initial",
  sql: `
-- API keys. Only a SHA-256 of the secret is stored: the secret is 32 random bytes made by the gateway,
-- so a slow password hash buys nothing against a stolen table, while every request pays for verification.
create table api_keys (
  id uuid primary key,
  name text not null,
  secret_sha256 text not null check (secret_sha256 ~ '^[0-9a-f]{64}$'),
  scopes text[] not null default '{}',
  rate_limit_per_minute integer check (rate_limit_per_minute > 0), -- null: no limit
  created_at timestamptz(3) not null default now(),
  revoked_at timestamptz(3)
);

-- Image sets jobs run on: a built-in one (mnist, fashion-mnist …) or an upload kept in the artifact store.
create table datasets (
  id uuid primary key,
  name text not null,
  kind text not null check (kind in ('builtin', 'upload')),
  spec jsonb not null, -- builtin: which set and split; upload: content digests and layout
  image_count integer not null check (image_count >= 0),
  classes text[] not null,
  api_key_id uuid references api_keys (id), -- owner; null for built-ins and the embedded mode
  created_at timestamptz(3) not null default now()
);
create index datasets_by_created on datasets (created_at desc, id desc);

-- A submitted DiffDA run. Its state is derived from its tasks by the store, never set by a client.
create table jobs (
  id uuid primary key,
  state text not null default 'queued'
    check (state in ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
  spec jsonb not null,
  dataset_id uuid references datasets (id),
  api_key_id uuid references api_keys (id),
  result jsonb,
  error jsonb,
  created_at timestamptz(3) not null default now(),
  updated_at timestamptz(3) not null default now(),
  started_at timestamptz(3),
  finished_at timestamptz(3),
  check ((state in ('succeeded', 'failed', 'cancelled')) = (finished_at is not null))
);
-- Keyset pagination, newest first: (created_at, id) < (cursor) walks this index.
create index jobs_by_created on jobs (created_at desc, id desc);
create index jobs_by_key_created on jobs (api_key_id, created_at desc, id desc);

-- One unit of work of a job's DAG, run by whoever holds its lease.
create table tasks (
  id uuid primary key,
  job_id uuid not null references jobs (id) on delete cascade,
  key text not null,      -- unique within the job, e.g. generate:method=diff-mix:seed=0:shard=3
  kind text not null,     -- finetune, generate, train, evaluate, … (the orchestrator's vocabulary)
  position integer not null, -- order given at submission: ties between runnable tasks go by it
  state text not null default 'pending'
    check (state in ('pending', 'running', 'succeeded', 'failed', 'cancelled')),
  attempts integer not null default 0 check (attempts >= 0), -- claims so far, the running one included
  max_attempts integer not null check (max_attempts >= 1),
  run_after timestamptz not null default now(), -- not claimable before (retry backoff)
  lease_owner text,
  lease_expires_at timestamptz,
  heartbeat_at timestamptz,
  input jsonb not null default '{}',
  output jsonb,
  error jsonb,  -- the last error, kept across retries
  created_at timestamptz(3) not null default now(),
  updated_at timestamptz(3) not null default now(),
  started_at timestamptz(3),
  finished_at timestamptz(3),
  unique (job_id, key),
  -- a lease exists exactly while the task runs
  check ((state = 'running') = (lease_owner is not null and lease_expires_at is not null)),
  check (attempts <= max_attempts)
);
-- The claim query scans pending tasks by run_after; reclaim scans running ones by expiry.
create index tasks_pending_by_run_after on tasks (run_after, position) where state = 'pending';
create index tasks_running_by_expiry on tasks (lease_expires_at) where state = 'running';

-- DAG edges: task_id may start only after depends_on succeeded. An edge table rather than a text[] of
-- keys so that both ends are foreign keys and the claim's "every dependency succeeded" is an index probe.
create table task_dependencies (
  task_id uuid not null references tasks (id) on delete cascade,
  depends_on uuid not null references tasks (id) on delete cascade,
  primary key (task_id, depends_on),
  check (task_id <> depends_on)
);
create index task_dependencies_reverse on task_dependencies (depends_on);

-- Append-only progress log per job, replayed by SSE after Last-Event-ID. Every writer holds the job's
-- row lock while inserting, so within a job ids increase in commit order and a reader never skips one.
create table job_events (
  id bigserial primary key,
  job_id uuid not null references jobs (id) on delete cascade,
  type text not null,
  data jsonb not null default '{}',
  created_at timestamptz(3) not null default now()
);
create index job_events_by_job on job_events (job_id, id);

-- Metadata of files in the content-addressed store. (job_id, key) is the identity of an output, e.g.
-- synthetic/<shard>/<index>, so a re-run shard inserts each image once (ON CONFLICT DO NOTHING).
create table artifacts (
  job_id uuid not null references jobs (id) on delete cascade,
  key text collate "C" not null, -- byte order, so listing by key pages the same on every server locale
  kind text not null,
  sha256 text not null check (sha256 ~ '^[0-9a-f]{64}$'),
  bytes bigint not null check (bytes >= 0),
  path text not null,  -- relative path inside the artifact store, derived from sha256
  meta jsonb not null default '{}',
  created_at timestamptz(3) not null default now(),
  primary key (job_id, key)
);
-- Garbage collection of the content-addressed store asks whether any row still points at a digest.
create index artifacts_by_sha256 on artifacts (sha256);

-- Idempotency-Key records for POST: the first request stores in_flight, its response replaces it.
create table idempotency_keys (
  principal text not null, -- api key id, or a fixed name in the embedded mode
  key text not null check (length(key) between 1 and 255),
  request_hash text not null,
  state text not null check (state in ('in_flight', 'completed')),
  response_status integer,
  response_body jsonb,
  created_at timestamptz(3) not null default now(),
  locked_until timestamptz not null, -- an in_flight record older than this was abandoned by a crash
  expires_at timestamptz not null,
  primary key (principal, key),
  check ((state = 'completed') = (response_status is not null))
);
create index idempotency_keys_by_expiry on idempotency_keys (expires_at);
`,
};
