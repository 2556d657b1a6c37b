import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { classifyError } from "./classify-error.js";

describe("classifyError", () => {
  it("retries infra failures and never bad input or handler bugs", () => {
    const grpc = (code: number, message = "x") => Object.assign(new Error(message), { code });
    assert.equal(classifyError(grpc(14)).retryable, true, "UNAVAILABLE");
    assert.equal(classifyError(grpc(4)).retryable, true, "DEADLINE_EXCEEDED");
    assert.equal(classifyError(grpc(8)).retryable, true, "RESOURCE_EXHAUSTED");
    assert.equal(classifyError(Object.assign(new Error("reset"), { code: "ECONNRESET" })).retryable, true);
    assert.equal(classifyError(grpc(3)).retryable, false, "INVALID_ARGUMENT");
    assert.equal(classifyError(grpc(9)).retryable, false, "FAILED_PRECONDITION");
    assert.equal(classifyError(new TypeError("undefined is not a function")).retryable, false);
    assert.equal(classifyError(Object.assign(new Error("flaky"), { retryable: true })).retryable, true);
  });

  it("keeps a JSON error with code and message", () => {
    assert.deepEqual(
      classifyError(Object.assign(new Error("bad strength"), { code: 3, details: "strength > 1" })),
      {
        retryable: false,
        error: { code: 3, message: "bad strength", details: "strength > 1" },
      },
    );
    assert.deepEqual(classifyError("boom"), {
      retryable: false,
      error: { code: "UNKNOWN", message: "boom" },
    });
  });
});
