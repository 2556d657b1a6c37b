import { after, describe } from "node:test";
import { storeContract } from "./store.contract.js";
import { postgresTarget, type Target } from "./test-support.js";

// Decided before the tests are defined, so an unreachable server shows as skipped with its reason.
const target = await postgresTarget();

describe("job store on PostgreSQL", { skip: "skip" in target ? target.skip : false }, () => {
  const ready = target as Target;
  after(() => ready.close());
  storeContract(() => ready);
});

if ("skip" in target) console.warn(`store.postgres.test: skipped, ${target.skip}`);
