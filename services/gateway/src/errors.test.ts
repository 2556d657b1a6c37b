import assert from "node:assert/strict";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { DATA_ERROR_CODES, DataError, type DataErrorCode } from "../../../shared/data/index.js";
import { RpcError } from "../../../shared/rpc/index.js";
import { ArtifactStore, sha256Hex } from "./artifact-store.js";
import { API_ERRORS, ApiError, toApiError, toProblem } from "./errors.js";
import { STORE_ERROR_CODES, StoreError, type StoreErrorCode } from "./store/index.js";

describe("the error catalog maps every error type", () => {
  test("codes are snake_case and statuses are 4xx/5xx", () => {
    for (const [code, entry] of Object.entries(API_ERRORS)) {
      assert.match(code, /^[a-z]+(_[a-z0-9]+)*$/);
      assert.ok(entry.status >= 400 && entry.status < 600, code);
    }
  });

  test("every StoreError code maps to a catalog code (caller faults stay 4xx)", () => {
    for (const code of Object.keys(STORE_ERROR_CODES) as StoreErrorCode[]) {
      const error = toApiError(new StoreError(code, "x"));
      assert.ok(error.code in API_ERRORS, code);
      assert.equal(
        error.status >= 500,
        STORE_ERROR_CODES[code].status >= 500 || code === "invalid_dag",
        code,
      );
    }
    assert.equal(toApiError(new StoreError("invalid_cursor", "x")).code, "invalid_cursor");
  });

  test("every DataError code maps to a catalog code with a status of the same class", () => {
    for (const code of Object.keys(DATA_ERROR_CODES) as DataErrorCode[]) {
      const error = toApiError(new DataError(code, "x", { name: "cat/1.png" }));
      assert.equal(Math.floor(error.status / 100), Math.floor(DATA_ERROR_CODES[code].status / 100), code);
      assert.deepEqual(error.errors, [{ field: "/body", message: `entry "cat/1.png": ${code}` }]);
    }
    assert.equal(toApiError(new DataError("image_too_large", "x")).code, "image_too_large");
    assert.equal(toApiError(new DataError("invalid_name", "x")).code, "archive_unsafe_path");
  });

  test("RpcErrors are 503 when retryable and 502 otherwise; anything else is a 500 without its message", () => {
    assert.equal(toApiError(new RpcError("unavailable")).status, 503);
    assert.equal(toApiError(new RpcError("invalid_field")).status, 502);
    const hidden = toApiError(new Error("password=hunter2"));
    assert.equal(hidden.code, "internal");
    assert.doesNotMatch(hidden.message, /hunter2/);
  });

  test("a problem carries type, title, status, detail, code, instance and field errors", () => {
    const problem = toProblem(
      new ApiError("validation_failed", "bad", { errors: [{ field: "/body/x", message: "m" }] }),
      "/v1/jobs",
    );
    assert.deepEqual(problem, {
      type: "urn:diffda:problem:validation_failed",
      title: "Validation failed",
      status: 400,
      detail: "bad",
      code: "validation_failed",
      instance: "/v1/jobs",
      errors: [{ field: "/body/x", message: "m" }],
    });
  });
});

describe("artifact store", () => {
  test("stores by digest, atomically, once; paths come only from digests", async (t) => {
    const dir = await mkdtemp(join(tmpdir(), "diffda-cas-"));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const store = new ArtifactStore(dir);
    const bytes = Buffer.from("hello artifacts");
    const digest = sha256Hex(bytes);
    const [a, b] = await Promise.all([store.put(bytes), store.put(bytes)]);
    assert.deepEqual(a, b);
    assert.equal(a.path, `sha256/${digest.slice(0, 2)}/${digest.slice(2)}`);
    assert.deepEqual(await store.read(digest), bytes);
    assert.equal(await store.size(digest), bytes.length);
    assert.deepEqual(await readdir(join(dir, "tmp")), [], "no temp file is left behind");
    for (const bad of ["../../etc/passwd", "AB".repeat(32), `${digest}/..`, ""]) {
      assert.throws(() => ArtifactStore.pathOf(bad), TypeError, bad);
    }
    await store.delete(digest);
    assert.equal(await store.has(digest), false);
  });
});
