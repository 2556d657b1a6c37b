import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { describe, test } from "node:test";
import { ConfigError, loadConfig } from "../config/index.js";
import {
  type ExecutionProviderLog,
  executionProviderEnv,
  probeProvider,
  selectExecutionProviders,
} from "./execution-provider.js";

function recordingLog() {
  const lines: { level: "info" | "warn"; fields: Record<string, unknown>; message: string }[] = [];
  const log: ExecutionProviderLog = {
    info: (fields, message) =>
      lines.push({ level: "info", fields: fields as Record<string, unknown>, message }),
    warn: (fields, message) =>
      lines.push({ level: "warn", fields: fields as Record<string, unknown>, message }),
  };
  return { log, lines };
}

/** Whether this machine's onnxruntime-node has the CUDA provider libraries (the *-cuda images do). */
function cudaLibrariesInstalled(): boolean {
  const pkg = createRequire(import.meta.url).resolve("onnxruntime-node/package.json");
  return existsSync(join(dirname(pkg), "bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so"));
}

describe("execution provider selection", () => {
  test("EXECUTION_PROVIDER defaults to cpu and accepts only cpu or cuda", () => {
    const schema = executionProviderEnv();
    assert.equal(loadConfig(schema, {}).EXECUTION_PROVIDER, "cpu");
    assert.equal(loadConfig(schema, { EXECUTION_PROVIDER: "cuda" }).EXECUTION_PROVIDER, "cuda");
    assert.throws(() => loadConfig(schema, { EXECUTION_PROVIDER: "gpu" }), ConfigError);
  });

  test("cpu never probes", async () => {
    const { log, lines } = recordingLog();
    const providers = await selectExecutionProviders("cpu", log, async () => {
      throw new Error("probed");
    });
    assert.deepEqual(providers, ["cpu"]);
    assert.equal(lines[0].fields.using, "cpu");
  });

  test("cuda that works is preferred, with the CPU behind it for unsupported nodes", async () => {
    const { log, lines } = recordingLog();
    assert.deepEqual(await selectExecutionProviders("cuda", log, async () => undefined), ["cuda", "cpu"]);
    assert.deepEqual(
      lines.map((l) => [l.level, l.fields.using]),
      [["info", "cuda"]],
    );
  });

  test("cuda that does not work falls back to the CPU with one warning giving the reason", async () => {
    const { log, lines } = recordingLog();
    const providers = await selectExecutionProviders("cuda", log, async () => "no GPU visible");
    assert.deepEqual(providers, ["cpu"]);
    assert.equal(lines.length, 1);
    assert.equal(lines[0].level, "warn");
    assert.equal(lines[0].fields.event, "execution_provider_fallback");
    assert.equal(lines[0].fields.reason, "no GPU visible");
  });

  test("the real probe answers for this machine without throwing", async () => {
    const reason = await probeProvider("cuda");
    if (!cudaLibrariesInstalled()) {
      // The CPU build (ONNXRUNTIME_NODE_INSTALL=skip) has no CUDA provider library to load.
      assert.match(reason ?? "", /cuda|shared librar|load/i);
    } else {
      assert.ok(reason === undefined || reason.length > 0);
    }
    const { log } = recordingLog();
    const providers = await selectExecutionProviders("cuda", log);
    assert.deepEqual(providers, reason === undefined ? ["cuda", "cpu"] : ["cpu"]);
  });
});
