import { after, before, describe } from "node:test";
import { storeContract } from "./store.contract.js";
import { pgliteTarget, type Target } from "./test-support.js";

describe("job store on PGlite (in memory)", () => {
  let target: Target;
  before(async () => {
    target = await pgliteTarget();
  });
  after(() => target?.close());
  storeContract(() => target);
});
