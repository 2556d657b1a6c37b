import type { Migration } from "./migration.js";

/**
 * Separate budgets for the two ways a task run can end without the task being at fault: its owner died
 * (the lease expired: `lease_losses`), or a service it called was unreachable or overloaded
 * (`infra_failures`, retried until `retry_deadline`, set at the first such failure). `max_attempts`
 * stays a backstop on claims of any kind, so no accounting mistake can loop forever.
 */
export const retryBudgets: Migration = {
  version: 3,
  name: "retry-budgets",
  sql: `
alter table tasks add column lease_losses integer not null default 0 check (lease_losses >= 0);
alter table tasks add column infra_failures integer not null default 0 check (infra_failures >= 0);
alter table tasks add column retry_deadline timestamptz;
`,
};
