import type { Migration } from "./migration.js";

/**
 * Job-completion webhooks (Standard Webhooks). A job may name a destination (`jobs.webhook`: url and the
 * events it wants); each event it wants becomes a row of `webhook_deliveries`, inserted in the transaction
 * that writes the job event, so a committed transition is never left unreported and a rolled-back one is
 * never reported. Deliveries are leased like tasks (owner + expiry, fencing by `attempts`), so exactly one
 * gateway replica sends each attempt. Secrets are per principal (an API key id, or `local` in the embedded
 * mode), made by `POST /v1/webhook-secret`; they are kept in clear because signing needs them.
 */
export const webhooks: Migration = {
  version: 4,
  name: "webhooks",
  sql: `
alter table jobs add column webhook jsonb; -- {"url": …, "events": [...]}; null: no webhook

create table webhook_secrets (
  principal text primary key, -- api key id, or 'local' in the embedded mode
  secret text not null check (secret ~ '^whsec_[A-Za-z0-9+/]+={0,2}$'),
  created_at timestamptz(3) not null default now()
);

create table webhook_deliveries (
  id text primary key check (id ~ '^msg_[0-9a-f]{32}$'), -- the webhook-id header, stable across retries
  job_id uuid not null references jobs (id) on delete cascade,
  event_type text not null
    check (event_type in ('job.started', 'job.progress', 'job.succeeded', 'job.failed', 'job.cancelled')),
  payload jsonb not null,
  state text not null default 'pending' check (state in ('pending', 'delivering', 'succeeded', 'failed')),
  attempts integer not null default 0 check (attempts >= 0), -- leases so far, the current one included
  next_attempt_at timestamptz not null default now(),
  lease_owner text,
  lease_expires_at timestamptz,
  last_status integer,   -- HTTP status of the last attempt; null: no response (refused, timeout, DNS)
  last_error text,
  created_at timestamptz(3) not null default now(),
  delivered_at timestamptz(3),
  check ((state = 'delivering') = (lease_owner is not null and lease_expires_at is not null)),
  check ((state = 'succeeded') = (delivered_at is not null))
);
-- The lease query scans pending rows by due time and delivering ones by expiry; the route lists a job's.
create index webhook_deliveries_due on webhook_deliveries (next_attempt_at) where state = 'pending';
create index webhook_deliveries_leased on webhook_deliveries (lease_expires_at) where state = 'delivering';
create index webhook_deliveries_by_job on webhook_deliveries (job_id, created_at desc, id desc);
-- The progress rate limit asks for a job's latest job.progress delivery.
create index webhook_deliveries_progress on webhook_deliveries (job_id, created_at)
  where event_type = 'job.progress';
`,
};
