/**
 * What the processes really serve, observed by running their real pieces: the service host (gRPC health,
 * /metrics, /healthz on the metrics port), the gateway app (its HTTP routes), and the metric registries
 * the code builds (names and label sets from the Prometheus exposition).
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { createChannel, createClient, Health, ServingStatus } from "../../shared/rpc/index.js";
import { runService, type ServiceModule } from "../../shared/service/index.js";
import { createMetrics, type Metrics } from "../../shared/telemetry/index.js";
import { REPO_ROOT } from "./support.js";

/** One series family of an exposition: its type and the label sets seen. */
export interface MetricFamily {
  readonly type: string;
  readonly series: Record<string, string>[];
}

/** Parses the Prometheus text format into families by name (histogram series fold into their family). */
export function parseExposition(text: string): Map<string, MetricFamily> {
  const families = new Map<string, MetricFamily>();
  for (const line of text.split("\n")) {
    const typed = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (typed) {
      families.set(typed[1], { type: typed[2], series: [] });
      continue;
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? /.exec(line);
    if (!sample) continue;
    const name = sample[1];
    const family =
      families.get(name) ?? families.get(name.replace(/_(bucket|sum|count)$/, "")) ?? families.get(name);
    if (!family) continue;
    const labels: Record<string, string> = {};
    for (const m of (sample[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[m[1]] = m[2];
    family.series.push(labels);
  }
  return families;
}

/** Series names a family exposes: a histogram's `_bucket`, `_sum` and `_count` besides its own name. */
export function seriesNames(families: ReadonlyMap<string, MetricFamily>): Set<string> {
  const names = new Set<string>();
  for (const [name, family] of families) {
    names.add(name);
    if (family.type === "histogram" || family.type === "summary") {
      for (const suffix of ["_bucket", "_sum", "_count"]) names.add(name + suffix);
    }
  }
  return names;
}

/** The gateway's metrics, with a queue depth for every task kind so that its label values show. */
export async function gatewayMetrics(
  onText: (exposition: string) => void = () => {},
): Promise<Map<string, MetricFamily>> {
  const { createGatewayMetrics } = await import("../../services/gateway/src/plugins/metrics.js");
  const { MAX_ATTEMPTS } = await import("../../services/gateway/src/orchestrator/planner.js");
  const depth = Object.fromEntries(
    Object.keys(MAX_ATTEMPTS).map((kind) => [kind, { runnable: 1, waiting: 1, running: 1 }]),
  );
  const gateway = createGatewayMetrics(
    createMetrics({ defaultLabels: { service: "gateway" } }),
    async () => depth,
  );
  const text = await gateway.metrics.registry.metrics();
  onText(text);
  return parseExposition(text);
}

/** A service host started in-process on free loopback ports, with the service's own metrics registered. */
export interface HostUnderTest {
  readonly grpcPort: number;
  readonly metricsPort: number;
  /** grpc.health.v1 Check of `service` ("" for the server), as the kubelet's gRPC probe sends it. */
  health(service?: string): Promise<ServingStatus>;
  /** Lets the service's load finish (health turns SERVING). */
  finishLoading(): void;
  /** GET on the metrics port. */
  get(path: string): Promise<{ status: number; text: string }>;
  close(): Promise<void>;
}

/**
 * Runs the real service host (shared/service's runService) for service `name` without its engine: the
 * service's metric factory (`services/<name>/src/metrics.ts`, any `create*Metrics` export) is called on
 * the host's registry, and loading finishes when the test says so.
 */
export async function startHost(name: string): Promise<HostUnderTest> {
  const metricsFile = join(REPO_ROOT, "services", name, "src", "metrics.ts");
  const factories: ((metrics: Metrics) => unknown)[] = [];
  if (existsSync(metricsFile)) {
    const module = (await import(pathToFileURL(metricsFile).href)) as Record<string, unknown>;
    for (const [key, value] of Object.entries(module)) {
      if (/^create\w*Metrics$/.test(key) && typeof value === "function") {
        factories.push(value as (metrics: Metrics) => unknown);
      }
    }
  }
  let finish!: () => void;
  const loaded = new Promise<void>((resolve) => (finish = resolve));
  const running = await runService({
    name,
    ports: { grpcPort: 0, metricsPort: 0 },
    schema: {},
    env: { GRPC_HOST: "127.0.0.1", METRICS_HOST: "127.0.0.1", LOG_LEVEL: "silent", DRAIN_GRACE_MS: "0" },
    handleSignals: false,
    exit: () => {},
    setup(host): ServiceModule {
      for (const factory of factories) factory(host.metrics);
      return { load: () => loaded };
    },
  });
  const channel = createChannel({
    address: `127.0.0.1:${running.grpcPort}`,
    limits: { maxReceiveMessageBytes: 1 << 20, maxSendMessageBytes: 1 << 20 },
  });
  const client = createClient(Health, channel, { timeoutMs: 5_000 });
  return {
    grpcPort: running.grpcPort,
    metricsPort: running.metricsPort,
    health: async (service = "") => (await client.check({ service })).status,
    finishLoading: finish,
    async get(path) {
      const response = await fetch(`http://127.0.0.1:${running.metricsPort}${path}`);
      return { status: response.status, text: await response.text() };
    },
    async close() {
      channel.close();
      finish();
      await running.ready.catch(() => {});
      await running.shutdown("test");
    },
  };
}

export { ServingStatus };
