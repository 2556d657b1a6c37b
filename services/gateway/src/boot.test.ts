import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { ConfigError } from "../../../shared/config/index.js";
import { httpLimitsFromEnv, isLoopbackHost, loadGatewayEnv, resolveAuthMode } from "./config.js";
import { DEFAULT_HTTP_LIMITS } from "./http-limits.js";
import { startGateway } from "./server.js";

describe("boot: configuration, auth default, the listening process", () => {
  test("a bad environment is one ConfigError naming every bad variable", () => {
    assert.throws(
      () =>
        loadGatewayEnv({
          PORT: "http",
          AUTH_MODE: "open",
          UPLOAD_MAX_COMPRESSION_RATIO: "0",
          GENERATION_ADDRESSES: " , ",
        }),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.deepEqual(
          error.issues.map((i) => i.name),
          ["PORT", "AUTH_MODE", "UPLOAD_MAX_COMPRESSION_RATIO", "GENERATION_ADDRESSES"],
        );
        return true;
      },
    );
    const env = loadGatewayEnv({ GENERATION_ADDRESSES: "gen-0:50052, gen-1:50052" });
    assert.deepEqual(env.GENERATION_ADDRESSES, ["gen-0:50052", "gen-1:50052"]);
  });

  test("an upload chunk over half the gRPC message limit is a ConfigError", () => {
    assert.throws(
      () => loadGatewayEnv({ GRPC_MAX_MESSAGE_BYTES: "1048576", UPLOAD_CHUNK_BYTES: "524289" }),
      (error: unknown) =>
        error instanceof ConfigError && error.issues.map((i) => i.name).join() === "UPLOAD_CHUNK_BYTES",
    );
    const env = loadGatewayEnv({ GRPC_MAX_MESSAGE_BYTES: "1048576", UPLOAD_CHUNK_BYTES: "524288" });
    assert.equal(env.UPLOAD_CHUNK_BYTES, 524288);
  });

  test("HTTP timeouts and the upload cap come from the environment; a request timeout under the headers one is a ConfigError", () => {
    assert.deepEqual(httpLimitsFromEnv(loadGatewayEnv({})), DEFAULT_HTTP_LIMITS);
    const env = loadGatewayEnv({
      HTTP_BODY_IDLE_TIMEOUT_MS: "5000",
      UPLOAD_MAX_IN_FLIGHT: "9",
      HTTP_REQUEST_TIMEOUT_MS: "0",
    });
    assert.equal(httpLimitsFromEnv(env).bodyIdleTimeoutMs, 5000);
    assert.equal(httpLimitsFromEnv(env).maxUploadsInFlight, 9);
    assert.throws(
      () => loadGatewayEnv({ HTTP_HEADERS_TIMEOUT_MS: "60000", HTTP_REQUEST_TIMEOUT_MS: "1000" }),
      (error: unknown) =>
        error instanceof ConfigError && error.issues.map((i) => i.name).join() === "HTTP_REQUEST_TIMEOUT_MS",
    );
  });

  test("auth is open to loopback callers only when listening on loopback, unless configured", () => {
    assert.equal(resolveAuthMode({ HOST: "127.0.0.1", AUTH_MODE: undefined }), "loopback-open");
    assert.equal(resolveAuthMode({ HOST: "::1", AUTH_MODE: undefined }), "loopback-open");
    assert.equal(resolveAuthMode({ HOST: "0.0.0.0", AUTH_MODE: undefined }), "required");
    assert.equal(resolveAuthMode({ HOST: "10.0.0.5", AUTH_MODE: undefined }), "required");
    assert.equal(resolveAuthMode({ HOST: "127.0.0.1", AUTH_MODE: "required" }), "required");
    assert.equal(isLoopbackHost("localhost"), true);
    assert.equal(isLoopbackHost("example.com"), false);
  });

  test("main.ts stops with exit code 2 and the list of bad variables", () => {
    const main = fileURLToPath(new URL("./main.ts", import.meta.url));
    const run = spawnSync(process.execPath, ["--import", "tsx", main], {
      env: { ...process.env, PORT: "-1", SHARD_SIZE: "huge" },
      encoding: "utf8",
      timeout: 60_000,
    });
    assert.equal(run.status, 2, run.stderr);
    assert.match(run.stderr, /PORT: expected an integer in \[0, 65535\], got "-1"/);
    assert.match(run.stderr, /SHARD_SIZE/);
  });

  test("startGateway listens on a real port, answers, and drains on stop", async (t) => {
    const dir = await mkdtemp(join(tmpdir(), "diffda-boot-"));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const gateway = await startGateway({
      HOST: "127.0.0.1",
      PORT: "0",
      LOG_LEVEL: "silent",
      DIFFDA_DATA_DIR: dir,
      ARTIFACT_DIR: join(dir, "artifacts"),
      RUN_TASKS: "false",
      SSE_POLL_MS: "20",
    });
    let stream: Promise<string> | undefined;
    try {
      const health = await fetch(`${gateway.address}/healthz`);
      assert.equal(health.status, 200);
      const ready = await fetch(`${gateway.address}/readyz`);
      assert.equal(ready.status, 200);
      // Listening on loopback: embedded mode, so local callers need no key.
      const methods = await fetch(`${gateway.address}/v1/methods`);
      assert.equal(methods.status, 200);
      // An event stream on a job that never ends must not hold the shutdown.
      const dataset = await gateway.store.datasets.create({
        name: "d",
        kind: "builtin",
        spec: {},
        imageCount: 0,
        classes: [],
      });
      const { job } = await gateway.store.jobs.create({
        spec: {},
        datasetId: dataset.id,
        tasks: [{ key: "a", kind: "train" }],
      });
      const events = await fetch(`${gateway.address}/v1/jobs/${job.id}/events`);
      assert.equal(events.status, 200);
      stream = events.text();
    } finally {
      const started = Date.now();
      await gateway.stop();
      assert.ok(Date.now() - started < 5_000, "stop did not wait for the open stream");
    }
    assert.match(await stream, /event: job.created/);
    await assert.rejects(fetch(`${gateway.address}/healthz`));
  });
});
