import assert from "node:assert/strict";
import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { isListening } from "../../cli/embedded/ports.js";
import { startStack } from "../../cli/embedded/stack.js";
import { embeddedUnits, startEmbedded } from "../../cli/embedded.js";
import { standInRoot } from "./support/stand-ins.js";

const roots: string[] = [];
after(async () => {
  for (const root of roots) await rm(root, { recursive: true, force: true });
});

async function root(options: { crash?: string } = {}) {
  const dir = await standInRoot(options);
  roots.push(dir);
  return dir;
}

/** The environment a stand-in logged at start. */
async function loggedEnv(logFile: string): Promise<Record<string, string>> {
  const line = (await readFile(logFile, "utf8")).split("\n").find((l) => l.includes('"listening"'));
  assert.ok(line, `${logFile} has a listening line`);
  return JSON.parse(line).env;
}

async function stoppedAt(logFile: string): Promise<number> {
  const match = /stopping (\d+)/.exec(await readFile(logFile, "utf8"));
  assert.ok(match, `${logFile} logged its stop`);
  return Number(match[1]);
}

function portOf(env: Readonly<Record<string, string | undefined>>): number {
  return Number(env.GRPC_PORT ?? env.PORT);
}

describe("embedded runner", () => {
  test("starts the gateway and three services wired together, logs to files, stops them in order and frees the ports", async () => {
    const dir = await root();
    const lines: string[] = [];
    const stack = await startEmbedded({
      root: dir,
      dataDir: join(dir, ".data"),
      modelDir: join(dir, "models"),
      readyTimeoutMs: 60_000,
      onStatus: (line) => void lines.push(line),
    });
    const names = stack.processes.map((p) => p.name);
    assert.deepEqual(names, ["finetune", "generation", "classifier", "gateway"]);
    assert.equal(lines.filter((l) => / ready in /.test(l)).length, 4, lines.join("\n"));
    const response = await fetch(`${stack.url}/readyz`);
    assert.equal(response.status, 200);

    const log = (name: string) => join(dir, ".data", "logs", `${name}.log`);
    const gateway = await loggedEnv(log("gateway"));
    const finetune = await loggedEnv(log("finetune"));
    const generation = await loggedEnv(log("generation"));
    const classifier = await loggedEnv(log("classifier"));
    assert.equal(gateway.FINETUNE_ADDRESS, `127.0.0.1:${finetune.GRPC_PORT}`);
    assert.equal(gateway.GENERATION_ADDRESSES, `127.0.0.1:${generation.GRPC_PORT}`);
    assert.equal(gateway.CLASSIFIER_ADDRESS, `127.0.0.1:${classifier.GRPC_PORT}`);
    assert.equal(stack.url, `http://127.0.0.1:${gateway.PORT}`);
    assert.equal(gateway.HOST, "127.0.0.1");
    assert.equal(gateway.AUTH_MODE, "loopback-open");
    assert.equal(gateway.DIFFDA_DATA_DIR, join(dir, ".data"));
    assert.equal(gateway.ARTIFACT_DIR, join(dir, ".data", "artifacts"));
    assert.equal(gateway.BASE_MODEL, "diffda-kit-v1");
    assert.equal(gateway.INSTRUCT_MODEL, "diffda-kit-v1-edit");
    assert.equal(finetune.MODEL_DIR, join(dir, "models"));
    assert.equal(generation.MODEL_DIR, join(dir, "models"));
    assert.equal(classifier.MODEL_DIR, undefined, "the classifier serves no model folder");
    for (const env of [finetune, generation, classifier]) {
      assert.equal(env.GRPC_HOST, "127.0.0.1");
      assert.equal(env.METRICS_PORT, "0", "metrics on a free port: no clash with other stacks");
    }
    const ports = [finetune, generation, classifier, gateway].map(portOf);
    assert.equal(new Set(ports).size, 4);

    const reports = await stack.stop();
    assert.deepEqual(
      reports.map((r) => [r.name, r.code, r.killed]),
      [
        ["gateway", 0, false],
        ["finetune", 0, false],
        ["generation", 0, false],
        ["classifier", 0, false],
      ],
    );
    const gatewayStop = await stoppedAt(log("gateway"));
    for (const name of ["finetune", "generation", "classifier"]) {
      assert.ok((await stoppedAt(log(name))) >= gatewayStop, `${name} stopped after the gateway`);
    }
    for (const port of ports) assert.equal(await isListening(port), false, `port ${port} is free`);
    assert.ok(stack.processes.every((p) => !p.running));
    assert.deepEqual(await stack.stop(), reports, "stop is idempotent");
  });

  test("a process that ignores SIGTERM is killed after the grace period", async () => {
    const dir = await root();
    const stack = await startEmbedded({
      root: dir,
      dataDir: join(dir, ".data"),
      env: { ...process.env, STANDIN_IGNORE_TERM: "1" },
      graceMs: 300,
      readyTimeoutMs: 60_000,
    });
    const ports = await Promise.all(stack.processes.map(async (p) => portOf(await loggedEnv(p.logFile))));
    const started = Date.now();
    const reports = await stack.stop();
    const byName = Object.fromEntries(reports.map((r) => [r.name, r]));
    assert.equal(byName.gateway.killed, false);
    for (const name of ["finetune", "generation", "classifier"]) {
      assert.equal(byName[name].killed, true, name);
      assert.equal(byName[name].signal, "SIGKILL");
    }
    assert.ok(Date.now() - started < 10_000);
    for (const port of ports) assert.equal(await isListening(port), false);
  });

  test("a process that dies before it is ready fails the start with its log tail; the others are stopped", async () => {
    const dir = await root({ crash: "generation" });
    const { units } = await embeddedUnits({ root: dir, dataDir: join(dir, ".data") });
    await assert.rejects(
      startStack(units, { readyTimeoutMs: 60_000, graceMs: 2000 }),
      (error: Error) =>
        /generation exited \(code 3\)/.test(error.message) &&
        /boom: the model folder is missing/.test(error.message),
    );
    for (const unit of units) {
      assert.equal(await isListening(portOf(unit.spec.env)), false, `${unit.spec.name} stopped`);
    }
  });

  test("a process dying while the stack runs is reported", async () => {
    const dir = await root();
    const stack = await startEmbedded({ root: dir, dataDir: join(dir, ".data"), readyTimeoutMs: 60_000 });
    try {
      const classifier = stack.processes.find((p) => p.name === "classifier");
      assert.ok(classifier);
      process.kill(classifier.pid, "SIGKILL");
      const reason = await stack.failed;
      assert.match(reason, /^classifier exited \(signal SIGKILL\)/);
    } finally {
      await stack.stop();
    }
  });

  test("the services' ports can be fixed (diffda up --finetune-port …), the gateway wired to them", async () => {
    const dir = await root();
    const ports = { finetune: 46_101, generation: 46_102, classifier: 46_103 };
    const { units } = await embeddedUnits({ root: dir, dataDir: join(dir, ".data"), servicePorts: ports });
    const env = Object.fromEntries(units.map((u) => [u.spec.name, u.spec.env ?? {}]));
    for (const [name, port] of Object.entries(ports)) assert.equal(env[name].GRPC_PORT, String(port), name);
    assert.equal(env.gateway.FINETUNE_ADDRESS, "127.0.0.1:46101");
    assert.equal(env.gateway.GENERATION_ADDRESSES, "127.0.0.1:46102");
    assert.equal(env.gateway.CLASSIFIER_ADDRESS, "127.0.0.1:46103");
  });

  test("a missing service entry point is named before anything starts", async () => {
    await assert.rejects(
      embeddedUnits({ root: "/nonexistent" }),
      /services\/finetune\/src\/main\.ts does not exist/,
    );
  });
});
