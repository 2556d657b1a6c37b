import type { Migration } from "./migration.js";

/**
 * Per-key token buckets in the database, so that a key's rate limit holds across gateway replicas
 * instead of multiplying by their number. One row per key that has a limit and has been used; a
 * request takes a token with one upsert (store/rate-limits.ts). `refilled_at` is a deadline-style
 * timestamptz (full precision): it is compared with the statement's time to the microsecond.
 */
export const rateLimits: Migration = {
  version: 2,
  name: "rate-limits",
  sql: `
create table rate_limit_buckets (
  api_key_id uuid primary key references api_keys (id) on delete cascade,
  per_minute integer not null check (per_minute > 0), -- the key's limit when the bucket was last used
  tokens double precision not null check (tokens >= 0), -- left after the last request
  refilled_at timestamptz not null,                       -- when tokens was computed
  last_taken boolean not null                             -- whether the last request got a token
);
`,
};
