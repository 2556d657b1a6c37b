import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { bool, ConfigError, int, list, loadConfig, number, oneOf, serviceEnv, string, url } from "./index.js";

describe("loadConfig", () => {
  const schema = {
    PORT: int({ min: 0, max: 65535, default: 8080 }),
    RATIO: number({ min: 0, max: 1, optional: true }),
    NAME: string({ minLength: 2 }),
    DEBUG: bool({ default: false }),
    LEVEL: oneOf(["info", "debug"], { default: "info" }),
    DATABASE_URL: url({ protocols: ["postgres:", "postgresql:"], optional: true }),
    MODELS: list(string({ pattern: /[a-z0-9-]+/ }), { default: [] }),
    SIZES: list(int({ min: 1 }), { optional: true }),
  };

  test("parses every kind and returns a frozen typed object", () => {
    const config = loadConfig(schema, {
      PORT: " 9000 ",
      RATIO: "0.25",
      NAME: "gen",
      DEBUG: "YES",
      LEVEL: "debug",
      DATABASE_URL: "postgres://u@db:5432/diffda",
      MODELS: "tiny-fashion, sd15 ,,",
      SIZES: "1,2,3",
    });
    assert.deepEqual(
      { ...config },
      {
        PORT: 9000,
        RATIO: 0.25,
        NAME: "gen",
        DEBUG: true,
        LEVEL: "debug",
        DATABASE_URL: "postgres://u@db:5432/diffda",
        MODELS: ["tiny-fashion", "sd15"],
        SIZES: [1, 2, 3],
      },
    );
    assert.ok(Object.isFrozen(config));
    assert.ok(Object.isFrozen(config.MODELS));
    // Compile-time checks (tsc): fields with a default or required are never undefined, optional ones are.
    const port: number = config.PORT;
    const name: string = config.NAME;
    const level: "info" | "debug" = config.LEVEL;
    // @ts-expect-error RATIO is optional, so it may be undefined
    const ratio: number = config.RATIO;
    assert.equal(`${name}:${level}`, "gen:debug");
    assert.equal(port + (ratio ?? 0), 9000.25);
  });

  test("applies defaults and leaves optional variables undefined; empty counts as unset", () => {
    const config = loadConfig(schema, { NAME: "ok", PORT: "", DEBUG: "  " });
    assert.equal(config.PORT, 8080);
    assert.equal(config.DEBUG, false);
    assert.equal(config.LEVEL, "info");
    assert.equal(config.RATIO, undefined);
    assert.equal(config.DATABASE_URL, undefined);
    assert.deepEqual(config.MODELS, []);
  });

  test("one ConfigError lists every bad variable with what was expected", () => {
    let caught: unknown;
    try {
      loadConfig(schema, {
        PORT: "80.5",
        RATIO: "2",
        DEBUG: "maybe",
        LEVEL: "loud",
        DATABASE_URL: "http://db",
        MODELS: "ok,Not_OK",
        SIZES: "1,0",
      });
    } catch (error) {
      caught = error;
    }
    assert.ok(caught instanceof ConfigError);
    assert.deepEqual(
      caught.issues.map((i) => i.name),
      ["PORT", "RATIO", "NAME", "DEBUG", "LEVEL", "DATABASE_URL", "MODELS", "SIZES"],
    );
    const lines = caught.message.split("\n");
    assert.equal(lines[0], "invalid configuration (8 variables):");
    assert.ok(lines.includes('  PORT: expected an integer in [0, 65535], got "80.5"'), caught.message);
    assert.ok(lines.includes('  RATIO: expected a number in [0, 1], got "2"'));
    assert.ok(lines.includes("  NAME: expected a string of length >= 2, not set"));
    assert.ok(lines.includes('  LEVEL: expected one of info, debug, got "loud"'));
    assert.ok(
      lines.includes('  DATABASE_URL: expected an absolute URL (postgres: postgresql:), got "http://db"'),
    );
  });

  test("integers reject non-decimal and unsafe values", () => {
    const s = { N: int() };
    for (const raw of ["0x10", "1e3", "9007199254740993", "abc", "1.0"]) {
      assert.throws(() => loadConfig(s, { N: raw }), ConfigError, raw);
    }
    assert.equal(loadConfig(s, { N: "-12" }).N, -12);
  });

  test("string patterns must match the whole value", () => {
    const s = { ID: string({ pattern: /[a-z]+/ }) };
    assert.throws(() => loadConfig(s, { ID: "abc1" }), ConfigError);
    assert.equal(loadConfig(s, { ID: "abc" }).ID, "abc");
  });

  test("sensitive values never appear in the message", () => {
    const s = { API_KEY: string({ minLength: 32, sensitive: true }) };
    assert.throws(
      () => loadConfig(s, { API_KEY: "hunter2" }),
      (error: unknown) =>
        error instanceof ConfigError &&
        !error.message.includes("hunter2") &&
        error.message.includes("<redacted>"),
    );
  });

  test("serviceEnv gives every service the same variables with its own default ports", () => {
    const config = loadConfig(serviceEnv({ grpcPort: 50052, metricsPort: 9465 }), { LOG_LEVEL: "debug" });
    assert.equal(config.GRPC_PORT, 50052);
    assert.equal(config.METRICS_PORT, 9465);
    assert.equal(config.LOG_LEVEL, "debug");
    assert.equal(config.GRPC_MAX_RECEIVE_MESSAGE_BYTES, 64 * 1024 * 1024);
    assert.equal(config.GRPC_MAX_CONNECTION_AGE_MS, 300_000);
    assert.equal(config.GRPC_MAX_CONNECTION_AGE_GRACE_MS, 3_600_000);
    const overflow = { GRPC_MAX_CONNECTION_AGE_MS: String(2 ** 31) };
    assert.throws(() => loadConfig(serviceEnv({ grpcPort: 1, metricsPort: 2 }), overflow), ConfigError);
  });
});
