import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decodeCursor, encodeCursor } from "./cursor.js";
import { StoreError } from "./errors.js";
import { DEFAULT_DATA_DIR, databaseConfigFromEnv } from "./open.js";

describe("databaseConfigFromEnv", () => {
  it("uses a server when DATABASE_URL is set and PGlite in a data directory otherwise", () => {
    assert.deepEqual(databaseConfigFromEnv({ DATABASE_URL: "postgres://db/diffda" }), {
      kind: "postgres",
      url: "postgres://db/diffda",
    });
    assert.deepEqual(databaseConfigFromEnv({ DATABASE_URL: "postgres://db/x", DATABASE_SCHEMA: "diffda" }), {
      kind: "postgres",
      url: "postgres://db/x",
      schema: "diffda",
    });
    assert.deepEqual(databaseConfigFromEnv({}), { kind: "pglite", dataDir: DEFAULT_DATA_DIR });
    assert.deepEqual(databaseConfigFromEnv({ DATABASE_URL: " ", DIFFDA_DATA_DIR: "/var/lib/diffda/" }), {
      kind: "pglite",
      dataDir: "/var/lib/diffda/pglite",
    });
  });
});

describe("cursors", () => {
  it("round-trip a position and reject anything else", () => {
    const position = {
      createdAt: new Date("2025-01-02T03:04:05.678Z"),
      id: "9b2f0c1e-8a47-4c7e-9f0e-6d1b2a3c4d5e",
    };
    assert.deepEqual(decodeCursor(encodeCursor(position)), position);
    for (const bad of [
      "",
      "x",
      Buffer.from("[1,2]").toString("base64url"),
      Buffer.from('["no","id"]').toString("base64url"),
    ]) {
      assert.throws(
        () => decodeCursor(bad),
        (e: unknown) => e instanceof StoreError && e.code === "invalid_cursor",
      );
    }
  });
});
