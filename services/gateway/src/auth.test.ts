import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createAuthFailureThrottle } from "./plugins/auth-failures.js";
import type { JobStore } from "./store/index.js";
import { bearer, idemKey, openTestStore, type TestGateway, testGateway } from "./test-support.js";

describe("auth: API keys, scopes, revocation, rate limits, embedded mode, key admin routes", () => {
  let store: JobStore;
  let gw: TestGateway;
  let open: TestGateway;
  before(async () => {
    store = await openTestStore();
    gw = await testGateway({ store });
    open = await testGateway({ store, authMode: "loopback-open" });
  });
  after(async () => {
    await gw?.close();
    await open?.close();
    await store?.close();
  });

  test("a malformed Authorization header or an unknown token is 401", async () => {
    for (const authorization of [
      "Basic abc",
      "Bearer",
      "Bearer dda_nope",
      `Bearer dda_${"0".repeat(32)}_${"0".repeat(64)}`,
    ]) {
      const res = await gw.app.inject({ method: "GET", url: "/v1/jobs", headers: { authorization } });
      assert.equal(res.statusCode, 401, authorization);
      assert.equal(res.json().code, "unauthorized");
    }
  });

  test("a key without the route's scope is 403; admin implies every scope", async () => {
    const reader = await bearer(store, ["read"]);
    const res = await gw.app.inject({
      method: "POST",
      url: "/v1/jobs",
      headers: { ...reader.headers, "idempotency-key": idemKey() },
      payload: {},
    });
    assert.equal(res.statusCode, 403);
    assert.equal(res.json().code, "forbidden");
    assert.match(res.json().detail, /submit/);
    const submitter = await bearer(store, ["submit"]);
    assert.equal(
      (await gw.app.inject({ method: "GET", url: "/v1/jobs", headers: submitter.headers })).statusCode,
      403,
    );
    const admin = await bearer(store, ["admin"]);
    assert.equal(
      (await gw.app.inject({ method: "GET", url: "/v1/jobs", headers: admin.headers })).statusCode,
      200,
    );
    assert.equal(
      (await gw.app.inject({ method: "GET", url: "/v1/keys", headers: reader.headers })).statusCode,
      403,
    );
  });

  test("admins create keys whose token works at once and is never listed", async () => {
    const admin = await bearer(store, ["admin"]);
    const created = await gw.app.inject({
      method: "POST",
      url: "/v1/keys",
      headers: { ...admin.headers, "idempotency-key": idemKey() },
      payload: { name: "ci", scopes: ["read"], rateLimitPerMinute: 100 },
    });
    assert.equal(created.statusCode, 201);
    const { key, token } = created.json();
    assert.match(token, /^dda_[0-9a-f]{32}_[0-9a-f]{64}$/);
    assert.equal(created.headers.location, `/v1/keys/${key.id}`);
    assert.deepEqual(key.scopes, ["read"]);
    assert.equal(key.rateLimitPerMinute, 100);
    const use = await gw.app.inject({
      method: "GET",
      url: "/v1/jobs",
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(use.statusCode, 200);
    const listed = await gw.app.inject({ method: "GET", url: "/v1/keys", headers: admin.headers });
    assert.equal(listed.statusCode, 200);
    assert.ok(listed.json().items.some((k: { id: string }) => k.id === key.id));
    assert.doesNotMatch(listed.body, new RegExp(token.slice(-64)));
    assert.doesNotMatch(listed.body, /secret/);
  });

  test("a key with an unknown scope or a bad rate limit is a 400 naming the field", async () => {
    const admin = await bearer(store, ["admin"]);
    const res = await gw.app.inject({
      method: "POST",
      url: "/v1/keys",
      headers: { ...admin.headers, "idempotency-key": idemKey() },
      payload: { name: "x", scopes: ["root"], rateLimitPerMinute: 0 },
    });
    assert.equal(res.statusCode, 400);
    const fields = res.json().errors.map((e: { field: string }) => e.field);
    assert.ok(fields.includes("/body/scopes/0"), fields.join());
    assert.ok(fields.includes("/body/rateLimitPerMinute"), fields.join());
  });

  test("a revoked key is refused at its next request", async () => {
    const admin = await bearer(store, ["admin"]);
    const victim = await bearer(store, ["read"]);
    assert.equal(
      (await gw.app.inject({ method: "GET", url: "/v1/jobs", headers: victim.headers })).statusCode,
      200,
    );
    const revoked = await gw.app.inject({
      method: "POST",
      url: `/v1/keys/${victim.id}/revoke`,
      headers: { ...admin.headers, "idempotency-key": idemKey() },
    });
    assert.equal(revoked.statusCode, 200);
    assert.ok(revoked.json().revokedAt);
    const after = await gw.app.inject({ method: "GET", url: "/v1/jobs", headers: victim.headers });
    assert.equal(after.statusCode, 401);
    assert.equal(after.json().code, "unauthorized");
  });

  test("revoking an unknown key is 404", async () => {
    const admin = await bearer(store, ["admin"]);
    const res = await gw.app.inject({
      method: "POST",
      url: "/v1/keys/5f0e4a44-0000-4000-8000-000000000000/revoke",
      headers: { ...admin.headers, "idempotency-key": idemKey() },
    });
    assert.equal(res.statusCode, 404);
    assert.equal(res.json().code, "not_found");
  });

  test("a key over its rate is 429 with Retry-After, and other keys are not affected", async () => {
    const limited = await bearer(store, ["read"], 3);
    const other = await bearer(store, ["read"], 3);
    const statuses = [];
    const remaining = [];
    for (let i = 0; i < 4; i++) {
      const res = await gw.app.inject({ method: "GET", url: "/v1/jobs", headers: limited.headers });
      statuses.push(res.statusCode);
      // The IETF RateLimit fields on successes and on the 429: the key's policy, then what is left.
      assert.equal(res.headers["ratelimit-policy"], '"per-key";q=3;w=60');
      remaining.push(/^"per-key";r=(\d+);t=(\d+)$/.exec(String(res.headers.ratelimit))?.[1]);
    }
    assert.deepEqual(statuses, [200, 200, 200, 429]);
    assert.deepEqual(remaining, ["2", "1", "0", "0"]);
    const refused = await gw.app.inject({ method: "GET", url: "/v1/jobs", headers: limited.headers });
    assert.equal(refused.json().code, "rate_limited");
    const retryAfter = Number(refused.headers["retry-after"]);
    assert.ok(retryAfter >= 1 && retryAfter <= 20, `Retry-After ${retryAfter}`);
    assert.equal(refused.headers.ratelimit, `"per-key";r=0;t=${retryAfter}`);
    assert.equal(
      (await gw.app.inject({ method: "GET", url: "/v1/jobs", headers: other.headers })).statusCode,
      200,
    );
  });

  test("the limit holds across replicas: two apps on one store share the key's bucket", async () => {
    const other = await testGateway({ store });
    try {
      const limited = await bearer(store, ["read"], 4);
      const statuses = [];
      for (let i = 0; i < 6; i++) {
        const replica = i % 2 === 0 ? gw : other;
        statuses.push(
          (await replica.app.inject({ method: "GET", url: "/v1/jobs", headers: limited.headers })).statusCode,
        );
      }
      // Per-process buckets would let 4 through on each replica: 6 × 200.
      assert.deepEqual(statuses, [200, 200, 200, 200, 429, 429]);
    } finally {
      await other.close();
    }
  });

  test("repeated failures from one address back off with 429 auth_throttled, before the key is checked", async () => {
    const throttled = await testGateway({
      store,
      authFailures: createAuthFailureThrottle({ freeFailures: 5, baseBlockMs: 60_000 }),
    });
    try {
      const good = await bearer(store, ["read"]);
      const get = (authorization: string, remoteAddress = "10.9.8.7") =>
        throttled.app.inject({ method: "GET", url: "/v1/jobs", headers: { authorization }, remoteAddress });
      const statuses: number[] = [];
      for (let i = 0; i < 8; i++) statuses.push((await get(`Bearer dda_guess_${i}`)).statusCode);
      assert.deepEqual(statuses, [401, 401, 401, 401, 401, 401, 429, 429]);
      const blocked = await get(good.headers.authorization);
      assert.equal(blocked.statusCode, 429, "a valid key from a closed address waits too");
      assert.equal(blocked.json().code, "auth_throttled");
      assert.match(String(blocked.headers["content-type"]), /^application\/problem\+json/);
      assert.ok(Number(blocked.headers["retry-after"]) >= 1);
      assert.equal(
        (await get(good.headers.authorization, "10.9.8.6")).statusCode,
        200,
        "other addresses pass",
      );
    } finally {
      await throttled.close();
    }
  });

  test("embedded mode lets loopback callers in without a key, as admin", async () => {
    const res = await open.app.inject({ method: "GET", url: "/v1/keys" });
    assert.equal(res.statusCode, 200);
    const v6 = await open.app.inject({ method: "GET", url: "/v1/jobs", remoteAddress: "::1" });
    assert.equal(v6.statusCode, 200);
  });

  test("embedded mode still demands a key from any other address, and checks keys that are sent", async () => {
    const remote = await open.app.inject({ method: "GET", url: "/v1/jobs", remoteAddress: "10.1.2.3" });
    assert.equal(remote.statusCode, 401);
    const wrong = await open.app.inject({
      method: "GET",
      url: "/v1/jobs",
      headers: { authorization: "Bearer nope" },
    });
    assert.equal(wrong.statusCode, 401, "a key that is sent must be valid, even from loopback");
  });
});
