/**
 * Webhooks end to end, over real loopback sockets and the real store: a job run on fake compute posts
 * signed Standard Webhooks messages to an HTTP receiver; failures are retried; replicas share deliveries;
 * a replica dying mid-attempt is covered by another; forbidden destinations are refused.
 */
import assert from "node:assert/strict";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, afterEach, before, describe, test } from "node:test";
import { createMetrics } from "../../../../shared/telemetry/index.js";
import { createGatewayMetrics, type GatewayMetrics } from "../plugins/metrics.js";
import type { JobStore, WebhookDelivery } from "../store/index.js";
import { bearer, idemKey, png, type TestGateway, testGateway, zipToBuffer } from "../test-support.js";
import { type ComputeGateway, startComputeGateway } from "../testing/compute-gateway.js";
import { type DestinationPolicy, isForbiddenAddress, safeLookup } from "./destination.js";
import { type DispatcherOptions, WebhookDispatcher } from "./dispatcher.js";
import { verify } from "./signature.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const OPEN: DestinationPolicy = { allowHttp: true, allowPrivate: true };

/** One request the receiver got. */
interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** An HTTP server on 127.0.0.1 that records every request and answers what `respond` says. */
class Receiver {
  readonly received: Received[] = [];
  /** Status for a request (n: how many requests this path got before it), or "hang" to never answer. */
  respond: (path: string, n: number) => number | "hang" = () => 204;
  /** Delay before answering, to keep attempts in flight. */
  delayMs = 0;
  readonly #server: Server;
  readonly #hanging = new Set<() => void>();

  constructor() {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("end", async () => {
        const path = req.url ?? "/";
        const n = this.received.filter((r) => r.path === path).length;
        this.received.push({ path, headers: req.headers, body: Buffer.concat(chunks).toString("utf8") });
        const status = this.respond(path, n);
        if (status === "hang") {
          this.#hanging.add(() => res.destroy());
          return;
        }
        if (this.delayMs > 0) await sleep(this.delayMs);
        res.writeHead(status, { "content-type": "text/plain" }).end("ok");
      });
    });
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(0, "127.0.0.1", resolve));
  }

  url(path: string): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}${path}`;
  }

  at(path: string): Received[] {
    return this.received.filter((r) => r.path === path);
  }

  async close(): Promise<void> {
    for (const drop of this.#hanging) drop();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

describe("webhooks: signed job events over HTTP, retries, leases across replicas, allow-list", () => {
  let store: JobStore;
  let gw: TestGateway;
  let strict: TestGateway;
  let stack: ComputeGateway;
  let receiver: Receiver;
  let owner: { headers: { authorization: string }; id: string };
  let secret: string;
  const dispatchers: WebhookDispatcher[] = [];

  const freshMetrics = (): GatewayMetrics =>
    createGatewayMetrics(createMetrics({ defaultMetrics: false }), () => store.tasks.queueDepth());
  const counts = async (metrics: GatewayMetrics) => {
    const values = (await metrics.webhookDeliveries.get()).values;
    return Object.fromEntries(values.map((v) => [v.labels.outcome, v.value]));
  };
  function dispatcher(options: Partial<DispatcherOptions> = {}, metrics = freshMetrics()) {
    const d = new WebhookDispatcher(
      { webhooks: store.webhooks, metrics },
      { destinations: OPEN, pollMs: 20, backoff: { baseMs: 40, capMs: 200 }, ...options },
    );
    dispatchers.push(d);
    return { d, metrics };
  }

  before(async () => {
    receiver = new Receiver();
    await receiver.listen();
    // Each test starts the dispatchers it needs, so the stack sends none of its own.
    stack = await startComputeGateway({ app: () => ({ webhookDestinations: OPEN }) });
    ({ store, gw } = stack);
    strict = await testGateway({ store });
    owner = await bearer(store, ["submit", "read"]);
    const made = await call("POST", "/v1/webhook-secret");
    assert.equal(made.statusCode, 201, made.body);
    secret = made.json().secret;
    assert.match(secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
  });

  // A failed test must not leave its dispatcher taking the next test's deliveries.
  afterEach(async () => {
    for (const d of dispatchers.splice(0)) await d.stop();
  });

  after(async () => {
    await strict?.close();
    await stack?.close();
    await receiver?.close();
  });

  function call(method: "GET" | "POST" | "DELETE", url: string, payload?: object, app = gw) {
    return app.app.inject({
      method,
      url,
      headers: { ...owner.headers, ...(method === "POST" ? { "idempotency-key": idemKey() } : {}) },
      ...(payload ? { payload } : {}),
    });
  }

  async function upload(): Promise<string> {
    const files = [];
    for (const name of ["shoe", "bag"]) {
      for (let i = 0; i < 3; i++) {
        const bytes = await png(8, 8, (i * 40 + (name === "bag" ? 7 : 0)) % 256);
        files.push({ name: `${name}/${i}.png`, read: async () => bytes });
      }
    }
    const res = await gw.app.inject({
      method: "POST",
      url: "/v1/datasets?testFraction=0.34",
      headers: { ...owner.headers, "content-type": "application/zip", "idempotency-key": idemKey() },
      payload: await zipToBuffer(files),
    });
    assert.equal(res.statusCode, 201, res.body);
    return res.json().id as string;
  }

  /** A job with a webhook that only hears of its cancellation, cancelled at once: one delivery. */
  async function cancelledJob(path: string): Promise<string> {
    const { job } = await store.jobs.create({
      spec: {},
      apiKeyId: owner.id,
      tasks: [{ key: "idle", kind: "no-such-kind" }],
      webhook: { url: receiver.url(path), events: ["job.cancelled"] },
    });
    assert.equal((await store.jobs.cancel(job.id)).outcome, "cancelled");
    return job.id;
  }

  async function deliveries(jobId: string): Promise<WebhookDelivery[]> {
    return (await store.webhooks.listForJob(jobId, { limit: 100 })).items;
  }

  async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
    const deadline = Date.now() + ms;
    for (;;) {
      const value = await probe();
      if (value !== undefined) return value;
      assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
      await sleep(30);
    }
  }

  function assertSigned(r: Received) {
    assert.equal(r.headers["content-type"], "application/json");
    const result = verify(
      secret,
      {
        id: String(r.headers["webhook-id"]),
        timestamp: String(r.headers["webhook-timestamp"]),
        signature: String(r.headers["webhook-signature"]),
      },
      r.body,
    );
    assert.deepEqual(result, { ok: true }, `${r.headers["webhook-id"]} verifies`);
  }

  test("a job on fake compute posts signed job.started, job.progress and job.succeeded messages", async () => {
    const { d, metrics } = dispatcher();
    d.start();
    const datasetId = await upload();
    const submitted = await call("POST", "/v1/jobs", {
      datasetId,
      methods: [{ preset: "real-guidance" }],
      baselines: ["no-augmentation"],
      seeds: [0],
      webhook: { url: receiver.url("/job"), events: ["job.started", "job.progress", "job.succeeded"] },
    });
    assert.equal(submitted.statusCode, 201, submitted.body);
    const job = submitted.json();
    assert.deepEqual(job.spec.webhook, {
      url: receiver.url("/job"),
      events: ["job.started", "job.progress", "job.succeeded"],
    });

    const settled = await until("every delivery", async () => {
      const items = await deliveries(job.id);
      return items.some((x) => x.eventType === "job.succeeded") && items.every((x) => x.state === "succeeded")
        ? items
        : undefined;
    });
    assert.equal((await call("GET", `/v1/jobs/${job.id}`)).json().state, "succeeded");
    const got = receiver.at("/job");
    assert.equal(got.length, 3, "each message once");
    for (const r of got) assertSigned(r);
    const bodies = got.map((r) => JSON.parse(r.body));
    // The tasks report progress many times; the store's 10 s default lets one through for this short job.
    assert.deepEqual(bodies.map((b) => b.type).sort(), ["job.progress", "job.started", "job.succeeded"]);
    const progress = bodies.find((b) => b.type === "job.progress");
    assert.equal(typeof progress.data.stage, "string");
    assert.equal(typeof progress.data.step, "number");
    for (const b of bodies) {
      assert.equal(b.data.jobId, job.id);
      assert.ok(!Number.isNaN(Date.parse(b.timestamp)));
    }
    assert.deepEqual(
      got.map((r) => r.headers["webhook-id"]).sort(),
      settled.map((x) => x.id).sort(),
      "webhook-id is the delivery id",
    );

    const listed = await call("GET", `/v1/jobs/${job.id}/webhook-deliveries?limit=1`);
    assert.equal(listed.statusCode, 200, listed.body);
    const page = listed.json();
    assert.equal(page.items.length, 1);
    assert.equal(page.items[0].eventType, "job.succeeded", "newest first");
    assert.equal(page.items[0].state, "succeeded");
    assert.equal(page.items[0].attempts, 1);
    assert.equal(page.items[0].lastStatus, 204);
    assert.equal(page.items[0].nextAttemptAt, null);
    const rest = await call("GET", `/v1/jobs/${job.id}/webhook-deliveries?limit=5&cursor=${page.nextCursor}`);
    assert.deepEqual(
      rest.json().items.map((x: { eventType: string }) => x.eventType),
      ["job.progress", "job.started"],
    );
    assert.equal(rest.json().nextCursor, null);
    const stranger = await bearer(store, ["read"]);
    const hidden = await gw.app.inject({
      url: `/v1/jobs/${job.id}/webhook-deliveries`,
      headers: stranger.headers,
    });
    assert.equal(hidden.statusCode, 404, "same visibility as the job");
    assert.deepEqual(await counts(metrics), { succeeded: 3 });
    await d.stop();
  });

  test("a receiver answering 500 twice, then 200, gets the same message three times", async () => {
    receiver.respond = (path, n) => (path === "/flaky" && n < 2 ? 500 : 200);
    const { d, metrics } = dispatcher();
    const jobId = await cancelledJob("/flaky");
    d.start();
    const [done] = await until("the third attempt", async () => {
      const items = await deliveries(jobId);
      return items[0]?.state === "succeeded" ? items : undefined;
    });
    await d.stop();
    assert.deepEqual([done.attempts, done.lastStatus, done.lastError], [3, 200, null]);
    const got = receiver.at("/flaky");
    assert.equal(got.length, 3);
    assert.equal(new Set(got.map((r) => r.headers["webhook-id"])).size, 1, "one webhook-id on every retry");
    for (const r of got) assertSigned(r);
    assert.deepEqual(await counts(metrics), { retried: 2, succeeded: 1 });
  });

  test("gives up once the retry window is over", async () => {
    receiver.respond = (path) => (path === "/down" ? 503 : 204);
    // A window wide enough that a first attempt slowed by a loaded machine still leaves room for a retry.
    const { d, metrics } = dispatcher({
      retryForMs: 1500,
      backoff: { baseMs: 50, capMs: 50 },
      random: () => 1,
    });
    const jobId = await cancelledJob("/down");
    d.start();
    const [failed] = await until("the delivery to fail", async () => {
      const items = await deliveries(jobId);
      return items[0]?.state === "failed" ? items : undefined;
    });
    await d.stop();
    assert.equal(failed.lastStatus, 503);
    assert.equal(failed.lastError, "HTTP 503");
    // One attempt every 50 ms or more (polling and load add to it) for 1.5 s, and one past it.
    assert.ok(failed.attempts >= 2 && failed.attempts <= 31, `${failed.attempts} attempts in 1.5 s`);
    assert.equal(receiver.at("/down").length, failed.attempts);
    assert.deepEqual(await counts(metrics), { retried: failed.attempts - 1, failed: 1 });
  });

  test("two replicas over one store deliver each message exactly once", async () => {
    receiver.respond = () => 200;
    receiver.delayMs = 40;
    const jobs: string[] = [];
    for (let i = 0; i < 12; i++) jobs.push(await cancelledJob(`/shared/${i}`));
    const a = dispatcher({ concurrency: 3 });
    const b = dispatcher({ concurrency: 3 });
    a.d.start();
    b.d.start();
    await until("every delivery", async () => {
      const all = (await Promise.all(jobs.map(deliveries))).flat();
      return all.every((x) => x.state === "succeeded") ? all : undefined;
    });
    await Promise.all([a.d.stop(), b.d.stop()]);
    receiver.delayMs = 0;
    const got = receiver.received.filter((r) => r.path.startsWith("/shared/"));
    assert.equal(got.length, 12, "12 messages, 12 requests");
    assert.equal(new Set(got.map((r) => r.headers["webhook-id"])).size, 12);
    const [fromA, fromB] = [
      (await counts(a.metrics)).succeeded ?? 0,
      (await counts(b.metrics)).succeeded ?? 0,
    ];
    assert.equal(fromA + fromB, 12);
    assert.ok(fromA > 0 && fromB > 0, `both replicas worked (${fromA} + ${fromB})`);
  });

  test("a replica stopped mid-attempt leaves its lease to expire and another replica delivers", async () => {
    receiver.respond = (path, n) => (path === "/crash" && n === 0 ? "hang" : 200);
    // A lease long enough that `first` cannot lease the message again while its attempt hangs (under
    // CI load a 300 ms lease expired mid-attempt, a second attempt went out, and the probe below never
    // saw exactly one): the takeover then waits for this lease to run out.
    const first = dispatcher({ leaseMs: 3_000, timeoutMs: 5_000 });
    const jobId = await cancelledJob("/crash");
    first.d.start();
    await until("the first attempt to arrive", async () =>
      receiver.at("/crash").length === 1 ? true : undefined,
    );
    await first.d.stop(); // gone mid-request: nothing is recorded
    const [held] = await deliveries(jobId);
    assert.deepEqual([held.state, held.attempts], ["delivering", 1]);

    const second = dispatcher({ leaseMs: 300 });
    second.d.start();
    const [done] = await until("the takeover", async () => {
      const items = await deliveries(jobId);
      return items[0]?.state === "succeeded" ? items : undefined;
    });
    await second.d.stop();
    assert.equal(done.attempts, 2);
    const got = receiver.at("/crash");
    assert.equal(got.length, 2);
    assert.equal(got[0].headers["webhook-id"], got[1].headers["webhook-id"], "at least once, same id");
    assert.deepEqual(await counts(second.metrics), { succeeded: 1 });
    assert.deepEqual(await counts(first.metrics), {});
  });

  test("a name that resolves to a forbidden address is refused at delivery (DNS rebinding)", async () => {
    receiver.respond = () => 200;
    const port = new URL(receiver.url("/")).port;
    const resolveTo =
      (address: string): NonNullable<DispatcherOptions["resolve"]> =>
      (_host, _options, callback) =>
        callback(null, [{ address, family: 4 }]);
    // Submitted while the name pointed elsewhere; it now resolves to loopback.
    const { job } = await store.jobs.create({
      spec: {},
      apiKeyId: owner.id,
      tasks: [{ key: "idle", kind: "no-such-kind" }],
      webhook: { url: `http://rebind.example.com:${port}/rebind`, events: ["job.cancelled"] },
    });
    await store.jobs.cancel(job.id);
    const guarded = dispatcher({
      destinations: { allowHttp: true, allowPrivate: false },
      resolve: resolveTo("127.0.0.1"),
      retryForMs: 0,
    });
    guarded.d.start();
    const [refused] = await until("the refusal", async () => {
      const items = await deliveries(job.id);
      return items[0]?.state === "failed" ? items : undefined;
    });
    await guarded.d.stop();
    assert.equal(refused.lastStatus, null);
    assert.match(refused.lastError ?? "", /WEBHOOK_DESTINATION_FORBIDDEN.*127\.0\.0\.1/);
    assert.equal(receiver.at("/rebind").length, 0, "no request reached the receiver");

    // The connection goes to the address the lookup checked (here allowed: loopback is permitted).
    const { job: allowed } = await store.jobs.create({
      spec: {},
      apiKeyId: owner.id,
      tasks: [{ key: "idle", kind: "no-such-kind" }],
      webhook: { url: `http://rebind.example.com:${port}/pinned`, events: ["job.cancelled"] },
    });
    await store.jobs.cancel(allowed.id);
    const open = dispatcher({ resolve: resolveTo("127.0.0.1") });
    open.d.start();
    await until("the delivery", async () =>
      (await deliveries(allowed.id))[0]?.state === "succeeded" ? true : undefined,
    );
    await open.d.stop();
    assert.equal(receiver.at("/pinned")[0].headers.host, `rebind.example.com:${port}`);
  });

  test("the system resolver's answers are checked too", async () => {
    const lookup = safeLookup({ allowHttp: true, allowPrivate: false });
    const error = await new Promise<NodeJS.ErrnoException | null>((resolve) =>
      lookup("localhost", {}, (e) => resolve(e)),
    );
    assert.equal(error?.code, "WEBHOOK_DESTINATION_FORBIDDEN");
    for (const address of [
      "127.0.0.1",
      "10.0.0.1",
      "172.31.255.255",
      "192.168.1.1",
      "169.254.169.254",
      "100.64.0.1",
      "0.0.0.0",
      "::1",
      "fe80::1",
      "fd00::1",
      "::ffff:127.0.0.1",
      "::ffff:7f00:1",
      "::7f00:1",
      "64:ff9b::a00:1",
      "224.0.0.1",
    ])
      assert.equal(isForbiddenAddress(address), true, address);
    for (const address of ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "172.32.0.1"])
      assert.equal(isForbiddenAddress(address), false, address);
  });

  test("forbidden webhook URLs are refused with 422 webhook_url_forbidden", async () => {
    const datasetId = await upload();
    const job = (webhook: object) => ({ datasetId, methods: [{ preset: "real-guidance" }], webhook });
    const forbidden = [
      "http://hooks.example.com/x",
      "https://127.0.0.1/x",
      "https://127.1.2.3:8443/x",
      "https://2130706433/x",
      "https://0x7f.1/x",
      "https://[::1]/x",
      "https://[::ffff:127.0.0.1]/x",
      "https://[fe80::1]/x",
      "https://169.254.169.254/latest/meta-data",
      "https://10.0.0.7/x",
      "https://172.16.0.1/x",
      "https://192.168.0.10/x",
      "https://100.64.0.1/x",
      "https://0.0.0.0/x",
      "https://localhost/x",
      "https://localhost./x",
      "https://api.localhost/x",
      "https://intranet/x",
      "https://user:secret@hooks.example.com/x",
      "ftp://hooks.example.com/x",
    ];
    const before = (await store.jobs.list({ limit: 100 })).items.length;
    for (const url of forbidden) {
      const res = await call("POST", "/v1/jobs", job({ url }), strict);
      assert.equal(res.statusCode, 422, `${url}: ${res.body}`);
      assert.equal(res.json().code, "webhook_url_forbidden", url);
      assert.equal(res.json().errors[0].field, "/body/webhook/url", url);
    }
    const bad = await call(
      "POST",
      "/v1/jobs",
      job({ url: "https://hooks.example.com/x", events: ["job.exploded"] }),
      strict,
    );
    assert.equal(bad.statusCode, 400, "an unknown event is a schema error");
    assert.equal((await store.jobs.list({ limit: 100 })).items.length, before, "no job was stored");

    // A public https URL passes; a key without a secret is told to make one first.
    const newcomer = await bearer(store, ["submit", "read"]);
    const missing = await strict.app.inject({
      method: "POST",
      url: "/v1/jobs",
      headers: { ...newcomer.headers, "idempotency-key": idemKey() },
      payload: job({ url: "https://hooks.example.com/x" }),
    });
    assert.equal(missing.statusCode, 422, missing.body);
    assert.equal(missing.json().code, "webhook_secret_missing");
    const accepted = await call("POST", "/v1/jobs", job({ url: "https://hooks.example.com/x" }), strict);
    assert.equal(accepted.statusCode, 201, accepted.body);
    assert.deepEqual(accepted.json().spec.webhook, {
      url: "https://hooks.example.com/x",
      events: ["job.succeeded", "job.failed", "job.cancelled"],
    });
    // Not sent anywhere: cancel it and delete it with its delivery.
    await call("POST", `/v1/jobs/${accepted.json().id}/cancel`, undefined, strict);
    assert.equal((await call("DELETE", `/v1/jobs/${accepted.json().id}`, undefined, strict)).statusCode, 204);
  });
});
