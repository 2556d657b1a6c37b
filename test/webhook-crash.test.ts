/**
 * Webhooks through a crash: real gateway processes on one PostgreSQL store send job events to a real
 * HTTP receiver on loopback. The receiver holds the first attempt of one delivery open, and that gateway
 * is SIGKILLed with the request in flight; two other gateways (two replicas) then share the work. Every
 * event must be acknowledged exactly once, with the same webhook-id on every attempt, and every signature
 * must verify with a Python standard-library implementation of the Standard Webhooks scheme.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import pg from "pg";
import { type GatewayProcess, startGatewayProcess } from "../shared/testing/gateway-process.js";

const DATABASE_URL = process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const TIMEOUT_MS = 1_500; // a webhook attempt's timeout; its lease is this + 5 s

/** Checks each (headers, body) with Python's hmac/hashlib/base64, printing one line per delivery. */
const PYTHON_VERIFY = `
import base64, hashlib, hmac, json, sys
secret, deliveries = sys.argv[1], json.load(sys.stdin)
key = base64.b64decode(secret[len("whsec_"):])
for d in deliveries:
    signed = (d["id"] + "." + d["timestamp"] + ".").encode() + base64.b64decode(d["body"])
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    given = [s.split(",", 1)[1] for s in d["signature"].split(" ") if s.startswith("v1,")]
    print("ok" if any(hmac.compare_digest(expected, g) for g in given) else "bad " + d["id"])
`;

interface Received {
  headers: IncomingHttpHeaders;
  body: Buffer;
}

async function postgresReachable(): Promise<boolean> {
  const probe = new pg.Client({ connectionString: DATABASE_URL, connectionTimeoutMillis: 5_000 });
  try {
    await probe.connect();
    await probe.end();
    return true;
  } catch (error) {
    if ((error as { code?: string }).code === "ECONNREFUSED") return false;
    throw error;
  }
}

const skip = (await postgresReachable()) ? false : `PostgreSQL not reachable at ${DATABASE_URL}`;

describe("webhooks through a gateway SIGKILL, with two replicas on one store", { skip }, () => {
  const schema = `diffda_webhooks_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: DATABASE_URL });
  const gateways: GatewayProcess[] = [];
  /** Every request, in arrival order; acknowledged ones (answered 204) by webhook-id. */
  const arrivals: Received[] = [];
  const acknowledged = new Map<string, Received[]>();
  let held: { id: string; arrived: () => void; response?: ServerResponse } | undefined;
  let heldArrived!: Promise<void>;
  const receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const got = { headers: req.headers, body: Buffer.concat(chunks) };
      arrivals.push(got);
      const id = String(req.headers["webhook-id"]);
      if (held !== undefined && held.response === undefined && held.id === "") {
        // The first delivery to arrive is held open: its gateway dies with it in flight.
        held.id = id;
        held.response = res;
        held.arrived();
        return;
      }
      acknowledged.set(id, [...(acknowledged.get(id) ?? []), got]);
      res.writeHead(204).end();
    });
  });

  const env = (port = 0) => ({
    PORT: String(port),
    AUTH_MODE: "loopback-open",
    DATABASE_URL,
    DATABASE_SCHEMA: schema,
    RUN_TASKS: "false",
    SEND_WEBHOOKS: "true",
    WEBHOOK_ALLOW_HTTP: "true",
    WEBHOOK_ALLOW_PRIVATE: "true",
    WEBHOOK_TIMEOUT_MS: String(TIMEOUT_MS),
    WEBHOOK_POLL_MS: "50",
    ARTIFACT_DIR: `/tmp/${schema}`,
  });

  before(async () => {
    await admin.connect();
    await admin.query(`create schema ${schema}`);
    await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
    heldArrived = new Promise<void>((resolve) => {
      held = { id: "", arrived: resolve };
    });
  });

  after(async () => {
    for (const g of gateways) await g.kill();
    held?.response?.destroy();
    receiver.close();
    await admin.query(`drop schema if exists ${schema} cascade`);
    await admin.end();
  });

  test("every event is acknowledged exactly once, signed, through the crash", {
    timeout: 120_000,
  }, async () => {
    const first = await startGatewayProcess(env());
    gateways.push(first);
    const call = async (
      gateway: GatewayProcess,
      method: string,
      path: string,
      body?: unknown,
      // biome-ignore lint/suspicious/noExplicitAny: JSON answers read field by field
    ): Promise<any> => {
      const res = await fetch(`${gateway.url}${path}`, {
        method,
        headers: {
          ...(body !== undefined ? { "content-type": "application/json" } : {}),
          ...(method === "POST" ? { "idempotency-key": randomBytes(8).toString("hex") } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      assert.ok(res.ok, `${method} ${path}: ${res.status} ${await res.clone().text()}`);
      return res.status === 204 ? undefined : res.json();
    };
    const { secret } = await call(first, "POST", "/v1/webhook-secret");
    const dataset = await call(first, "POST", "/v1/datasets", { builtin: "fashion-mnist", shots: 1 });
    const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    // No tasks run here (RUN_TASKS=false): cancelling each job is what emits its job.cancelled event.
    const jobs: string[] = [];
    for (let i = 0; i < 4; i++) {
      const job = await call(first, "POST", "/v1/jobs", {
        datasetId: dataset.id,
        kind: "generate",
        methods: [{ preset: "real-guidance" }],
        webhook: { url, events: ["job.cancelled"] },
      });
      jobs.push(job.id);
    }
    for (const id of jobs) await call(first, "POST", `/v1/jobs/${id}/cancel`);

    await heldArrived;
    await first.kill();
    held?.response?.destroy(); // the dead gateway's connection: no answer ever reaches it
    gateways.push(await startGatewayProcess(env()), await startGatewayProcess(env()));

    const deadline = Date.now() + 60_000;
    while (acknowledged.size < jobs.length && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    // Past two more leases: a duplicate would show by now.
    await new Promise((r) => setTimeout(r, 2 * (TIMEOUT_MS + 5_000)));

    assert.equal(acknowledged.size, jobs.length, "one acknowledged delivery per job.cancelled");
    for (const [id, got] of acknowledged) assert.equal(got.length, 1, `${id} acknowledged once`);
    const heldId = held?.id ?? "";
    assert.ok(acknowledged.has(heldId), "the delivery in flight at the crash was delivered later");
    assert.equal(
      arrivals.filter((a) => a.headers["webhook-id"] === heldId).length,
      2,
      "the same webhook-id on the attempt that died and on the one after",
    );
    const bodies = [...acknowledged.values()].map(([got]) => JSON.parse(got.body.toString()));
    assert.deepEqual(bodies.map((b) => b.data.jobId).sort(), [...jobs].sort());
    const verified = execFileSync("python3", ["-c", PYTHON_VERIFY, secret], {
      input: JSON.stringify(
        arrivals.map((a) => ({
          id: a.headers["webhook-id"],
          timestamp: a.headers["webhook-timestamp"],
          signature: a.headers["webhook-signature"],
          body: a.body.toString("base64"),
        })),
      ),
      encoding: "utf8",
    });
    assert.deepEqual(
      verified.trim().split("\n"),
      arrivals.map(() => "ok"),
    );
  });
});
