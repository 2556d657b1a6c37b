/** Every migration, ordered by version. Add new ones; never edit or reorder released ones. */
import { initial } from "./0001-initial.js";
import { rateLimits } from "./0002-rate-limits.js";
import { retryBudgets } from "./0003-retry-budgets.js";
import { webhooks } from "./0004-webhooks.js";
import { adapters } from "./0005-adapters.js";
import { lifecycle } from "./0006-lifecycle.js";
import type { Migration } from "./migration.js";

export type { Migration } from "./migration.js";

/** The schema history the gateway expects. */
export const MIGRATIONS: readonly Migration[] = [
  initial,
  rateLimits,
  retryBudgets,
  webhooks,
  adapters,
  lifecycle,
];
