/**
 * The Python client (clients/python) against a live gateway: serve-fake-compute.ts runs a real gateway
 * app and orchestrator over an in-memory store with fake compute on a loopback port, and the client's
 * unittest suite runs against it with DIFFDA_URL and two API keys. DIFFDA_REQUIRE_LIVE=1 makes a missing
 * gateway a failure there, not a skip, so this test cannot pass without the live tests having run.
 * Skipped when no python3 ≥ 3.9 is on the PATH.
 */
import assert from "node:assert/strict";
import { type ChildProcessWithoutNullStreams, execFile, spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";

const run = promisify(execFile);
const PYTHON = process.env.PYTHON ?? "python3";
const python39 =
  spawnSync(PYTHON, ["-c", "import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)"]).status === 0;

interface Served {
  url: string;
  apiKey: string;
  readOnlyKey: string;
}

/** Starts the launcher and resolves with the JSON line it prints once it listens. */
async function serve(): Promise<{ child: ChildProcessWithoutNullStreams; served: Served }> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", "services/gateway/src/testing/serve-fake-compute.ts"],
    { stdio: "pipe" },
  );
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const lines = createInterface({ input: child.stdout });
  const exited = once(child, "exit").then(([code]) => {
    throw new Error(`serve-fake-compute exited with ${code} before listening:\n${stderr}`);
  });
  const [line] = (await Promise.race([once(lines, "line"), exited])) as [string];
  lines.close();
  return { child, served: JSON.parse(line) as Served };
}

describe("the Python client against a live gateway", {
  skip: python39 ? false : `no ${PYTHON} >= 3.9`,
}, () => {
  let child: ChildProcessWithoutNullStreams | undefined;
  let served: Served;

  before(async () => {
    ({ child, served } = await serve());
  });

  after(async () => {
    if (child === undefined || child.exitCode !== null) return;
    const exited = once(child, "exit");
    child.stdin.end(); // the launcher stops when its stdin closes
    const timer = setTimeout(() => child?.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
  });

  test("python3 -m unittest discover -s clients/python/tests passes", async () => {
    const { stdout, stderr } = await run(
      PYTHON,
      ["-m", "unittest", "discover", "-s", "clients/python/tests", "-v"],
      {
        env: {
          ...process.env,
          DIFFDA_URL: served.url,
          DIFFDA_API_KEY: served.apiKey,
          DIFFDA_READ_KEY: served.readOnlyKey,
          DIFFDA_REQUIRE_LIVE: "1",
          PYTHONDONTWRITEBYTECODE: "1",
        },
        timeout: 120_000,
      },
    ).catch((error: { stdout?: string; stderr?: string; code?: number }) => {
      assert.fail(`unittest failed (exit ${error.code}):\n${error.stdout ?? ""}${error.stderr ?? ""}`);
    });
    const output = `${stdout}${stderr}`;
    const ran = Number(/Ran (\d+) tests?/.exec(output)?.[1] ?? 0);
    assert.ok(ran >= 20, `expected the whole suite, got:\n${output}`);
    assert.match(
      output,
      /test_generate_only_job_followed_by_events \(test_live_gateway\.LiveGatewayTest[^)]*\) \.\.\. ok/,
    );
    assert.doesNotMatch(output, /skipped/, output);
  });
});
