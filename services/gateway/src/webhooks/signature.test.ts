import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { describe, test } from "node:test";
import { secretKey, sign, verify } from "./signature.js";

/** The signature Python's standard library computes for the same message: an independent implementation. */
function pythonSignature(secret: string, id: string, timestamp: number, body: string): string {
  const script = [
    "import base64, hashlib, hmac, sys",
    "key = base64.b64decode(sys.argv[1].removeprefix('whsec_'))",
    "message = f'{sys.argv[2]}.{sys.argv[3]}.'.encode() + sys.argv[4].encode()",
    "print('v1,' + base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode(), end='')",
  ].join("\n");
  return execFileSync("python3", ["-c", script, secret, id, String(timestamp), body], { encoding: "utf8" });
}

describe("webhook signatures (Standard Webhooks v1)", () => {
  // A fixed vector (the one Svix's and the Standard Webhooks libraries' tests use, as far as we know),
  // so a regression shows as a changed constant; Python's hmac module confirms it independently.
  const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
  const id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
  const timestamp = 1614265330;
  const body = '{"test": 2432232314}';
  const expected = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

  test("matches a fixed vector and Python's hmac module", () => {
    assert.equal(sign(secret, id, timestamp, body), expected);
    assert.equal(pythonSignature(secret, id, timestamp, body), expected);
  });

  test("agrees with Python on a random secret and a non-ASCII body", () => {
    const random = `whsec_${randomBytes(32).toString("base64")}`;
    const text = JSON.stringify({ type: "job.succeeded", data: { name: "Größe ✓", n: 3 } });
    assert.equal(
      sign(random, "msg_abc", 1_700_000_000, text),
      pythonSignature(random, "msg_abc", 1_700_000_000, text),
    );
  });

  test("verifies within tolerance, with several signatures, and refuses the rest", () => {
    const now = timestamp + 10;
    const headers = { id, timestamp: String(timestamp), signature: expected };
    assert.deepEqual(verify(secret, headers, body, { nowSeconds: now }), { ok: true });
    const rotated = `v1,${randomBytes(32).toString("base64")} v2,abc ${expected}`;
    assert.deepEqual(verify(secret, { ...headers, signature: rotated }, body, { nowSeconds: now }), {
      ok: true,
    });
    assert.deepEqual(verify(secret, headers, `${body} `, { nowSeconds: now }), {
      ok: false,
      reason: "no_matching_signature",
    });
    assert.deepEqual(verify(secret, { ...headers, id: "msg_other" }, body, { nowSeconds: now }), {
      ok: false,
      reason: "no_matching_signature",
    });
    assert.deepEqual(verify(secret, { ...headers, signature: "v1,c2hvcnQ=" }, body, { nowSeconds: now }), {
      ok: false,
      reason: "no_matching_signature",
    });
    assert.deepEqual(verify(secret, headers, body, { nowSeconds: timestamp + 301 }), {
      ok: false,
      reason: "timestamp_out_of_tolerance",
    });
    assert.deepEqual(verify(secret, headers, body, { nowSeconds: timestamp - 301 }), {
      ok: false,
      reason: "timestamp_out_of_tolerance",
    });
    assert.deepEqual(verify(secret, { ...headers, timestamp: "16e8" }, body, { nowSeconds: now }), {
      ok: false,
      reason: "malformed_timestamp",
    });
    const other = `whsec_${randomBytes(32).toString("base64")}`;
    assert.equal(verify(other, headers, body, { nowSeconds: now }).ok, false);
  });

  test("refuses secrets that are not whsec_<base64> of a usable length", () => {
    assert.throws(() => secretKey("whsec_not base64!"), TypeError);
    assert.throws(() => secretKey(`whsec_${randomBytes(8).toString("base64")}`), TypeError);
    assert.equal(secretKey(secret).length, 24);
  });
});
