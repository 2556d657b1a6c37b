import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { classifyError, scrubAddresses } from "./classify-error.js";

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

  it("leaves no network address in what it records", () => {
    const thrown = Object.assign(
      new Error(
        "14 UNAVAILABLE: No connection established. Last error: connect ECONNREFUSED 127.0.0.1:50053",
      ),
      { code: "unavailable", retryable: true, details: { target: "dns:///diffda-classifier.ns.svc:50053" } },
    );
    assert.deepEqual(classifyError(thrown), {
      retryable: true,
      error: {
        code: "unavailable",
        message: "14 UNAVAILABLE: No connection established. Last error: connect ECONNREFUSED <address>",
        details: { target: "<address>" },
      },
    });
    for (const [raw, clean] of [
      ["connect ECONNREFUSED [::1]:50051", "connect ECONNREFUSED <address>"],
      ["peer ::1 closed", "peer <address> closed"],
      ["peer fe80::1%eth0 gone", "peer <address>%eth0 gone"],
      ["to 10.0.3.7 failed", "to <address> failed"],
      ["getaddrinfo EAI_AGAIN classifier.default.svc.cluster.local:50053", "getaddrinfo EAI_AGAIN <address>"],
      ["localhost:8080 refused", "<address> refused"],
      ["unix:/run/diffda.sock gone", "<address> gone"],
      ["strength 1.5 is over 1 at 12:30", "strength 1.5 is over 1 at 12:30"],
      ["shard 3 of 8: 2 images", "shard 3 of 8: 2 images"],
    ]) {
      assert.equal(scrubAddresses(raw), clean, raw);
    }
  });
});
