import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { describe, test } from "node:test";
import {
  childLogger,
  createLogger,
  createMetrics,
  LATENCY_SECONDS_BUCKETS,
  lintExposition,
  startMetricsServer,
} from "./index.js";

function capture() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split("\n")) if (line) lines.push(JSON.parse(line));
      done();
    },
  });
  return { lines, destination };
}

describe("logger", () => {
  test("writes one JSON object per line with level label, time, service and child bindings", async () => {
    const { lines, destination } = capture();
    const logger = createLogger({ service: "generation", level: "info", destination });
    childLogger(logger, { rpc: "GenerateShard", job_id: "j1" }).info({ shard: 3 }, "shard done");
    logger.debug("hidden below the level");
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(lines.length, 1);
    const [line] = lines;
    assert.equal(line.level, "info");
    assert.equal(line.service, "generation");
    assert.equal(line.rpc, "GenerateShard");
    assert.equal(line.job_id, "j1");
    assert.equal(line.shard, 3);
    assert.equal(line.msg, "shard done");
    assert.ok(!Number.isNaN(Date.parse(String(line.time))));
  });

  test("redacts credentials", async () => {
    const { lines, destination } = capture();
    const logger = createLogger({ service: "gateway", level: "info", destination });
    logger.info({ headers: { authorization: "Bearer secret" }, apiKey: "k" }, "req");
    await new Promise((resolve) => setImmediate(resolve));
    assert.doesNotMatch(JSON.stringify(lines[0]), /secret|"k"/);
  });
});

describe("metrics", () => {
  test("registers prefixed metrics, stock gRPC names, and the default metrics under their stock names", async () => {
    const metrics = createMetrics();
    const calls = metrics.counter({ name: "rpc_calls_total", help: "calls", labelNames: ["method"] });
    calls.inc({ method: "Echo" });
    const text = await metrics.registry.metrics();
    assert.match(text, /^diffda_rpc_calls_total\{method="Echo"\} 1$/m);
    assert.match(text, /^process_cpu_user_seconds_total /m);
    assert.match(text, /^nodejs_eventloop_lag_seconds /m);
    assert.match(text, /^# TYPE nodejs_active_handles gauge$/m);
    assert.doesNotMatch(text, /^# TYPE \S+_total gauge$/m, "no gauge ends in _total");
    metrics.counter({ name: "grpc_server_started_total", help: "started" }).inc();
    assert.match(await metrics.registry.metrics(), /^grpc_server_started_total 1$/m);
  });

  test("enforces naming rules: _total on counters only, base units, no id labels, no double prefix", () => {
    const metrics = createMetrics({ defaultMetrics: false });
    assert.throws(() => metrics.counter({ name: "rpc_calls", help: "x" }), /must end in _total/);
    assert.throws(() => metrics.gauge({ name: "queue_total", help: "x" }), /only counters/);
    assert.throws(
      () => metrics.histogram({ name: "stage_duration_ms", help: "x", buckets: [1] }),
      /base units/,
    );
    assert.throws(
      () => metrics.counter({ name: "images_total", help: "x", labelNames: ["job_id"] }),
      /unbounded/,
    );
    assert.throws(() => metrics.gauge({ name: "diffda_depth", help: "x" }), /prefix/);
    const h = metrics.histogram({
      name: "rpc_duration_seconds",
      help: "x",
      labelNames: ["method"],
      buckets: LATENCY_SECONDS_BUCKETS,
    });
    h.observe({ method: "Echo" }, 0.02);
  });
});

describe("metrics server", () => {
  test("serves /metrics and /healthz on a loopback port, 404 elsewhere", async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    metrics.gauge({ name: "queue_depth", help: "pending tasks" }).set(7);
    let healthy = true;
    const server = await startMetricsServer({
      registry: metrics.registry,
      port: 0,
      host: "127.0.0.1",
      healthy: () => healthy,
    });
    try {
      const base = `http://127.0.0.1:${server.port}`;
      const res = await fetch(`${base}/metrics`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get("content-type") ?? "", /^text\/plain/);
      assert.match(await res.text(), /^diffda_queue_depth 7$/m);
      assert.equal((await fetch(`${base}/healthz`)).status, 200);
      healthy = false;
      assert.equal((await fetch(`${base}/healthz`)).status, 503);
      assert.equal((await fetch(`${base}/nope`)).status, 404);
      assert.equal((await fetch(`${base}/readyz`)).status, 404, "no readiness check configured");
    } finally {
      await server.close();
    }
  });

  test("/readyz answers 200 while ready and 503 otherwise", async () => {
    let ready = false;
    const metrics = createMetrics({ defaultMetrics: false });
    const server = await startMetricsServer({ registry: metrics.registry, port: 0, ready: () => ready });
    try {
      const url = `http://127.0.0.1:${server.port}/readyz`;
      assert.equal((await fetch(url)).status, 503);
      ready = true;
      assert.equal((await fetch(url)).status, 200);
    } finally {
      await server.close();
    }
  });

  test("the exposition lint finds what promtool would, and diffda's own rules", () => {
    const bad = [
      "# HELP diffda_queue_total depth",
      "# TYPE diffda_queue_total gauge",
      "diffda_queue_total 1",
      "# HELP diffda_calls calls",
      "# TYPE diffda_calls counter",
      'diffda_calls{job_key="x"} 1',
      "# TYPE diffda_latency_ms histogram",
      'diffda_latency_ms_bucket{le="+Inf"} 1',
      "# HELP images_total images",
      "# TYPE images_total counter",
      "images_total 3",
      "stray_metric 1",
    ].join("\n");
    assert.deepEqual(lintExposition(bad).sort(), [
      "diffda_calls: a counter must end in _total",
      'diffda_calls: label "job_key" has no documented meaning',
      "diffda_latency_ms: no help text",
      "diffda_latency_ms: not in base units (seconds, bytes, ratio)",
      "diffda_queue_total: a gauge must not end in _total",
      "images_total: neither diffda_-prefixed nor a stock name",
      "stray_metric: a sample without a TYPE line",
    ]);
  });

  test("a label without a documented meaning is refused at registration", () => {
    const metrics = createMetrics({ defaultMetrics: false });
    assert.throws(
      () => metrics.counter({ name: "x_total", help: "x", labelNames: ["mode"] }),
      /one meaning per label/,
    );
  });

  test("a full registry with the default metrics lints clean", async () => {
    const metrics = createMetrics();
    metrics
      .counter({ name: "rpc_calls_total", help: "calls", labelNames: ["grpc_method"] })
      .inc({ grpc_method: "A" });
    assert.deepEqual(lintExposition(await metrics.registry.metrics()), []);
  });
});
