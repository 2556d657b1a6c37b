import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { createAuthFailureThrottle } from "./auth-failures.js";

describe("auth failure backoff", () => {
  test("free failures, then blocks that double up to the cap, then forgotten after the window", () => {
    let t = 0;
    const throttle = createAuthFailureThrottle({
      freeFailures: 3,
      windowMs: 60_000,
      baseBlockMs: 1000,
      maxBlockMs: 8000,
      now: () => t,
    });
    for (let i = 0; i < 3; i++) throttle.fail("a");
    assert.deepEqual(throttle.check("a"), { blocked: false });
    const blocks: number[] = [];
    for (let i = 0; i < 6; i++) {
      throttle.fail("a");
      const state = throttle.check("a");
      assert.equal(state.blocked, true);
      blocks.push(state.blocked ? state.retryAfterSeconds : 0);
      t += 10_000; // past every block, within the window
      assert.deepEqual(throttle.check("a"), { blocked: false });
    }
    assert.deepEqual(blocks, [1, 2, 4, 8, 8, 8]);
    assert.deepEqual(throttle.check("b"), { blocked: false }, "another address is not affected");
    t += 60_001;
    throttle.fail("a");
    assert.deepEqual(throttle.check("a"), { blocked: false }, "the count started again");
  });

  test("the table holds at most maxAddresses, dropping the stalest", () => {
    const throttle = createAuthFailureThrottle({ freeFailures: 1, maxAddresses: 3 });
    for (const address of ["a", "b", "c", "a", "d"]) throttle.fail(address);
    assert.equal(throttle.size, 3);
    throttle.fail("a");
    assert.equal(throttle.check("a").blocked, true, "a was kept (it failed most recently)");
    throttle.fail("b");
    assert.equal(throttle.check("b").blocked, false, "b was dropped, so its count restarted");
  });
});
