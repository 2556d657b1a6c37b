import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { ByteDataset } from "../../../shared/data/index.js";
import { ArtifactStore } from "./artifact-store.js";
import { DatasetService } from "./datasets/dataset-service.js";
import { REPLAY_HEADER } from "./plugins/idempotency.js";
import type { JobStore } from "./store/index.js";
import {
  bearer,
  idemKey,
  openTestStore,
  TEST_LIMITS,
  type TestGateway,
  testGateway,
} from "./test-support.js";

/** A tiny built-in dataset: 2 classes × 4 images, half of them test. */
function tinyBuiltin(): ByteDataset {
  const n = 8;
  const labels = Int32Array.from({ length: n }, (_, i) => i % 2);
  const split = Uint8Array.from({ length: n }, (_, i) => (i < 4 ? 0 : 1));
  return {
    name: "tiny",
    channels: 1,
    height: 4,
    width: 4,
    classNames: ["a", "b"],
    pixels: new Uint8Array(n * 16).fill(9),
    labels,
    split,
    origin: Int32Array.from({ length: n }, (_, i) => i),
    train: Int32Array.from([0, 1, 2, 3]),
    test: Int32Array.from([4, 5, 6, 7]),
  };
}

describe("Idempotency-Key on POST", () => {
  let store: JobStore;
  let gw: TestGateway;
  let gate: { open: () => void; calls: number; wait: Promise<void> };
  const resetGate = () => {
    let open!: () => void;
    const wait = new Promise<void>((resolve) => {
      open = resolve;
    });
    gate = { open, calls: 0, wait };
  };
  before(async () => {
    store = await openTestStore();
    resetGate();
    gate.open();
    const artifacts = new ArtifactStore(`${process.env.TMPDIR ?? "/tmp"}/diffda-idem-${process.pid}`);
    const datasets = new DatasetService({
      datasets: store.datasets,
      artifacts,
      limits: TEST_LIMITS.upload,
      loadBuiltin: async () => {
        gate.calls++;
        await gate.wait;
        return tinyBuiltin();
      },
    });
    gw = await testGateway({ store, artifacts, datasets });
  });
  after(async () => {
    await gw?.close();
    await store?.close();
  });

  test("a POST without Idempotency-Key is 400 idempotency_key_missing, before the body is judged", async () => {
    const admin = await bearer(store, ["admin"]);
    const res = await gw.app.inject({
      method: "POST",
      url: "/v1/keys",
      headers: admin.headers,
      payload: { nonsense: true },
    });
    assert.equal(res.statusCode, 400);
    assert.equal(res.json().code, "idempotency_key_missing");
    assert.deepEqual(res.json().errors, [{ field: "/headers/idempotency-key", message: "is required" }]);
  });

  test("a key with spaces or over 255 characters is a validation error", async () => {
    const admin = await bearer(store, ["admin"]);
    for (const key of ["has space", "x".repeat(256)]) {
      const res = await gw.app.inject({
        method: "POST",
        url: "/v1/keys",
        headers: { ...admin.headers, "idempotency-key": key },
        payload: { name: "k", scopes: ["read"] },
      });
      assert.equal(res.statusCode, 400);
      assert.equal(res.json().code, "validation_failed");
    }
  });

  test("a retry with the same key and payload replays the stored response and creates nothing new", async () => {
    const admin = await bearer(store, ["admin"]);
    const key = idemKey();
    const request = {
      method: "POST" as const,
      url: "/v1/keys",
      headers: { ...admin.headers, "idempotency-key": key },
      payload: { name: "replayed", scopes: ["read"] },
    };
    const first = await gw.app.inject(request);
    assert.equal(first.statusCode, 201);
    assert.equal(first.headers[REPLAY_HEADER], undefined);
    // Same payload with the keys in another order: the canonical body is the same.
    const second = await gw.app.inject({ ...request, payload: { scopes: ["read"], name: "replayed" } });
    assert.equal(second.statusCode, 201);
    assert.equal(second.headers[REPLAY_HEADER], "true");
    assert.deepEqual(second.json(), first.json());
    assert.equal(second.headers.location, first.headers.location);
    const keys = await store.apiKeys.list();
    assert.equal(keys.filter((k) => k.name === "replayed").length, 1);
  });

  test("the same key with another payload is 422 idempotency_mismatch", async () => {
    const admin = await bearer(store, ["admin"]);
    const key = idemKey();
    const post = (name: string) =>
      gw.app.inject({
        method: "POST",
        url: "/v1/keys",
        headers: { ...admin.headers, "idempotency-key": key },
        payload: { name, scopes: ["read"] },
      });
    assert.equal((await post("one")).statusCode, 201);
    const other = await post("two");
    assert.equal(other.statusCode, 422);
    assert.equal(other.json().code, "idempotency_mismatch");
  });

  test("the same key on another route is a mismatch too", async () => {
    const admin = await bearer(store, ["admin"]);
    const key = idemKey();
    const created = await gw.app.inject({
      method: "POST",
      url: "/v1/keys",
      headers: { ...admin.headers, "idempotency-key": key },
      payload: { name: "route", scopes: ["read"] },
    });
    assert.equal(created.statusCode, 201);
    const revoke = await gw.app.inject({
      method: "POST",
      url: `/v1/keys/${created.json().key.id}/revoke`,
      headers: { ...admin.headers, "idempotency-key": key },
    });
    assert.equal(revoke.statusCode, 422);
  });

  test("keys are scoped per principal: another key may use the same Idempotency-Key", async () => {
    const a = await bearer(store, ["admin"]);
    const b = await bearer(store, ["admin"]);
    const key = idemKey();
    for (const who of [a, b]) {
      const res = await gw.app.inject({
        method: "POST",
        url: "/v1/keys",
        headers: { ...who.headers, "idempotency-key": key },
        payload: { name: `scoped ${who.id}`, scopes: ["read"] },
      });
      assert.equal(res.statusCode, 201);
      assert.equal(res.headers[REPLAY_HEADER], undefined);
    }
  });

  test("a retry while the first request is running is 409; after it finishes, it replays", async () => {
    const submitter = await bearer(store, ["submit"]);
    const key = idemKey();
    resetGate();
    const request = {
      method: "POST" as const,
      url: "/v1/datasets",
      headers: { ...submitter.headers, "idempotency-key": key },
      payload: { builtin: "fashion-mnist", shots: 1, seed: 0 },
    };
    const first = gw.app.inject(request);
    while (gate.calls === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    const during = await gw.app.inject(request);
    assert.equal(during.statusCode, 409);
    assert.equal(during.json().code, "idempotency_in_flight");
    assert.equal(during.headers["retry-after"], "1");
    gate.open();
    const done = await first;
    assert.equal(done.statusCode, 201);
    const later = await gw.app.inject(request);
    assert.equal(later.statusCode, 201);
    assert.equal(later.headers[REPLAY_HEADER], "true");
    assert.equal(later.json().id, done.json().id);
    assert.equal(gate.calls, 1, "the work ran once");
  });

  test("a refused request is not stored: the client may fix it and retry under the same key", async () => {
    const submitter = await bearer(store, ["submit"]);
    const key = idemKey();
    const bad = await gw.app.inject({
      method: "POST",
      url: "/v1/jobs",
      headers: { ...submitter.headers, "idempotency-key": key },
      payload: { datasetId: "5f0e4a44-0000-4000-8000-000000000000", methods: [{ preset: "diff-mix" }] },
    });
    assert.equal(bad.statusCode, 422);
    const datasets = await gw.app.inject({
      method: "POST",
      url: "/v1/datasets",
      headers: { ...submitter.headers, "idempotency-key": idemKey() },
      payload: { builtin: "mnist", shots: 1, seed: 3 },
    });
    assert.equal(datasets.statusCode, 201);
    const fixed = await gw.app.inject({
      method: "POST",
      url: "/v1/jobs",
      headers: { ...submitter.headers, "idempotency-key": key },
      payload: { datasetId: datasets.json().id, methods: [{ preset: "diff-mix" }] },
    });
    assert.equal(fixed.statusCode, 201, fixed.body);
    assert.equal(fixed.headers[REPLAY_HEADER], undefined);
  });
});
