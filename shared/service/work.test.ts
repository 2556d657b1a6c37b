import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { outcomeOf } from "./work.js";

describe("work outcome", () => {
  test("cancelled once the call's signal fired, whatever the work did after; else ok or failed", () => {
    const fired = AbortSignal.abort();
    const live = new AbortController().signal;
    assert.equal(outcomeOf(undefined, live), "ok");
    assert.equal(outcomeOf(new Error("x"), live), "failed");
    assert.equal(outcomeOf(undefined), "ok");
    assert.equal(outcomeOf(new Error("x"), fired), "cancelled");
    assert.equal(
      outcomeOf(undefined, fired),
      "cancelled",
      "finished after the cancel: nothing reached the client",
    );
  });
});
