/**
 * The manifests held against the code: every variable a manifest sets is one the process reads (its
 * boot-time schema, or the store's and dataset cache's own reads, recorded), every variable it requires
 * is set, every value passes the schema; every port, probe and metric is one the process really serves
 * (observed by running the service host and the gateway app); and the cross-object wiring (Services,
 * addresses, NetworkPolicies, autoscaling, drain timings) holds. Renaming a port, a variable or a metric
 * on either side fails here.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type ConfigSchema, loadConfig } from "../../shared/config/index.js";
import { lintExposition } from "../../shared/telemetry/index.js";
import {
  gatewayMetrics,
  type HostUnderTest,
  type MetricFamily,
  ServingStatus,
  seriesNames,
  startHost,
} from "./served.js";
import {
  type Container,
  containerEnv,
  type EnvSource,
  find,
  gatewayConfig,
  get,
  isRequired,
  type K8sObject,
  literalEnv,
  OVERLAYS,
  PROCESSES,
  type Probe,
  type ProcessConfig,
  podOf,
  processOfImage,
  REPO_ROOT,
  serviceConfig,
} from "./support.js";

interface Workload {
  overlay: string;
  object: K8sObject;
  container: Container;
  process: string;
  env: Map<string, EnvSource>;
}

/** Every diffda container of every overlay. */
function workloads(): Workload[] {
  const out: Workload[] = [];
  for (const [overlay, objects] of OVERLAYS) {
    for (const object of [...find(objects, "Deployment"), ...find(objects, "StatefulSet")]) {
      for (const container of podOf(object).spec.containers) {
        const process = processOfImage(container.image);
        if (process) out.push({ overlay, object, container, process, env: containerEnv(objects, container) });
      }
    }
  }
  return out;
}

const WORKLOADS = workloads();
const configs = new Map<string, ProcessConfig | undefined>();

/** The validated configuration a container boots with (Secret-sourced values left out). */
function bootConfig(w: Workload, config: ProcessConfig): Record<string, unknown> {
  const secrets = new Set([...w.env].filter(([, v]) => v.kind === "secret").map(([k]) => k));
  const schema: ConfigSchema = Object.fromEntries(
    Object.entries(config.schema).filter(([k]) => !secrets.has(k)),
  );
  return loadConfig(schema, literalEnv(w.env)) as Record<string, unknown>;
}

function portNumber(container: Container, port: number | string): number {
  if (typeof port === "number") return port;
  const found = container.ports?.find((p) => p.name === port);
  assert.ok(found, `${container.name} has no port named ${port}`);
  return found.containerPort;
}

function probes(container: Container): [string, Probe][] {
  return (["startupProbe", "readinessProbe", "livenessProbe"] as const).map((k) => {
    const probe = container[k];
    assert.ok(probe, `${container.name} has no ${k}`);
    return [k, probe];
  });
}

before(async () => {
  configs.set("gateway", await gatewayConfig());
  for (const name of PROCESSES.filter((p) => p !== "gateway")) configs.set(name, await serviceConfig(name));
});

function missingReason(process: string): string | false {
  return configs.get(process) === undefined ? `services/${process} is not in this tree yet` : false;
}

describe("every diffda process is deployed, in every overlay", () => {
  test("each overlay runs the four processes from their images", () => {
    for (const overlay of OVERLAYS.keys()) {
      const here = WORKLOADS.filter((w) => w.overlay === overlay).map((w) => w.process);
      assert.deepEqual(here.sort(), [...PROCESSES].sort(), overlay);
    }
  });
});

for (const process of PROCESSES) {
  describe(`${process}: manifests against the code`, () => {
    const mine = () => WORKLOADS.filter((w) => w.process === process);
    const skip = () => missingReason(process);

    test("every variable set is one the process reads, and every required one is set", (t) => {
      const reason = skip();
      if (reason) return t.skip(reason);
      const config = configs.get(process)!;
      for (const w of mine()) {
        for (const name of w.env.keys()) {
          assert.ok(
            name in config.schema || config.extraReads.has(name),
            `${w.overlay}/${w.object.metadata.name} sets ${name}, which ${process} does not read`,
          );
        }
        for (const [name, field] of Object.entries(config.schema)) {
          if (isRequired(field)) assert.ok(w.env.has(name), `${w.overlay}: ${process} requires ${name}`);
        }
      }
    });

    test("every value passes the process's own schema", (t) => {
      const reason = skip();
      if (reason) return t.skip(reason);
      for (const w of mine()) assert.doesNotThrow(() => bootConfig(w, configs.get(process)!), w.overlay);
    });

    test("container ports are the ports the configuration listens on, and nothing else", (t) => {
      const reason = skip();
      if (reason) return t.skip(reason);
      for (const w of mine()) {
        const config = bootConfig(w, configs.get(process)!);
        const expected =
          process === "gateway"
            ? { http: config.PORT }
            : { grpc: config.GRPC_PORT, metrics: config.METRICS_PORT };
        const actual = Object.fromEntries((w.container.ports ?? []).map((p) => [p.name, p.containerPort]));
        assert.deepEqual(actual, expected, w.overlay);
        if (process === "gateway")
          assert.notEqual(config.HOST, "127.0.0.1", "the gateway must not bind loopback");
        else assert.equal(config.GRPC_HOST, "0.0.0.0");
      }
    });

    test("probes: gRPC health on the gRPC port, HTTP on paths the process serves, liveness never on readiness", async (t) => {
      const reason = skip();
      if (reason) return t.skip(reason);
      const paths = new Set<string>();
      for (const w of mine()) {
        const config = bootConfig(w, configs.get(process)!);
        for (const [kind, probe] of probes(w.container)) {
          if (probe.grpc) {
            assert.notEqual(process, "gateway", "the gateway has no gRPC server");
            assert.equal(config.GRPC_TLS_CERT_FILE, undefined, "the kubelet's gRPC probe cannot speak TLS");
            assert.equal(probe.grpc.port, config.GRPC_PORT, `${w.overlay} ${kind}`);
            assert.ok(!probe.grpc.service, 'probe the server\'s overall health (service "")');
            assert.notEqual(
              kind,
              "livenessProbe",
              "gRPC health is NOT_SERVING while draining: not for liveness",
            );
          } else if (probe.httpGet) {
            const port = portNumber(w.container, probe.httpGet.port);
            assert.equal(
              port,
              process === "gateway" ? config.PORT : config.METRICS_PORT,
              `${w.overlay} ${kind}`,
            );
            paths.add(probe.httpGet.path);
            if (kind === "livenessProbe") assert.equal(probe.httpGet.path, "/healthz");
          } else {
            assert.fail(`${w.overlay} ${kind}: only gRPC and HTTP probes are expected`);
          }
        }
      }
      if (process === "gateway") {
        const { testGateway } = await import("../../services/gateway/src/test-support.js");
        const gateway = await testGateway();
        try {
          for (const path of paths) {
            const response = await gateway.app.inject({ method: "GET", url: path });
            assert.equal(response.statusCode, 200, `GET ${path}: ${response.body}`);
          }
        } finally {
          await gateway.close();
          await gateway.store.close();
        }
      } else {
        const host = await startHost(process);
        try {
          // What the probes see: NOT_SERVING while loading (startup and readiness fail), SERVING after.
          assert.equal(await host.health(""), ServingStatus.NOT_SERVING);
          for (const path of paths) {
            assert.equal((await host.get(path)).status, path === "/readyz" ? 503 : 200, path);
          }
          host.finishLoading();
          let status = await host.health("");
          for (let i = 0; i < 50 && status !== ServingStatus.SERVING; i++) {
            await new Promise((r) => setTimeout(r, 20));
            status = await host.health("");
          }
          assert.equal(status, ServingStatus.SERVING);
          for (const path of paths) assert.equal((await host.get(path)).status, 200, path);
        } finally {
          await host.close();
        }
      }
    });

    test("terminationGracePeriodSeconds covers the preStop sleep, the drain grace and closing", (t) => {
      const reason = skip();
      if (reason) return t.skip(reason);
      for (const w of mine()) {
        const config = bootConfig(w, configs.get(process)!);
        const command = w.container.lifecycle?.preStop?.exec?.command ?? [];
        assert.equal(command[0], "sleep", `${w.overlay}: preStop sleeps so endpoints drop the pod first`);
        const sleep = Number(command[1]);
        assert.ok(sleep >= 5, "a preStop sleep of at least 5 s");
        const grace = podOf(w.object).spec.terminationGracePeriodSeconds ?? 30;
        const needed = sleep + (config.DRAIN_GRACE_MS as number) / 1000 + 5;
        assert.ok(grace >= needed, `${w.overlay} ${process}: grace ${grace} s < ${needed} s`);
      }
    });
  });
}

describe("wiring between objects", () => {
  test("every Service selects one workload and targets ports it has", () => {
    for (const [overlay, objects] of OVERLAYS) {
      for (const service of find(objects, "Service")) {
        const spec = service.spec as {
          selector: Record<string, string>;
          ports: { name: string; port: number; targetPort: number | string }[];
        };
        const selected = [...find(objects, "Deployment"), ...find(objects, "StatefulSet")].filter((o) =>
          Object.entries(spec.selector).every(([k, v]) => podOf(o).labels[k] === v),
        );
        assert.equal(
          selected.length,
          1,
          `${overlay}: Service ${service.metadata.name} selects ${selected.length}`,
        );
        const [container] = podOf(selected[0]).spec.containers;
        for (const port of spec.ports) portNumber(container, port.targetPort);
      }
    }
  });

  test("the gateway's compute addresses name headless Services on the services' gRPC ports", (t) => {
    for (const w of WORKLOADS.filter((x) => x.process === "gateway")) {
      const objects = OVERLAYS.get(w.overlay)!;
      const config = bootConfig(w, configs.get("gateway")!);
      const addresses: [string, string][] = [
        ["finetune", config.FINETUNE_ADDRESS as string],
        ["classifier", config.CLASSIFIER_ADDRESS as string],
        ...(config.GENERATION_ADDRESSES as string[]).map((a): [string, string] => ["generation", a]),
      ];
      for (const [process, address] of addresses) {
        const match = /^dns:\/\/\/([a-z0-9-]+):(\d+)$/.exec(address);
        assert.ok(
          match,
          `${w.overlay}: ${address} is not dns:///<service>:<port> (no round-robin over replicas)`,
        );
        const service = get(objects, "Service", match[1]);
        const spec = service.spec as {
          clusterIP?: string;
          selector: Record<string, string>;
          ports: { port: number; targetPort: number | string }[];
        };
        assert.equal(spec.clusterIP, "None", `${match[1]} must be headless`);
        const port = spec.ports.find((p) => p.port === Number(match[2]));
        assert.ok(port, `${match[1]} has no port ${match[2]}`);
        const target = WORKLOADS.find(
          (x) =>
            x.overlay === w.overlay &&
            Object.entries(spec.selector).every(([k, v]) => podOf(x.object).labels[k] === v),
        );
        assert.ok(target, `${match[1]} selects no diffda workload`);
        assert.equal(target.process, process, `${address} reaches ${target.process}`);
        if (missingReason(process)) {
          t.diagnostic(`${process}'s port not checked: ${missingReason(process)}`);
          continue;
        }
        assert.equal(
          portNumber(target.container, port.targetPort),
          bootConfig(target, configs.get(process)!).GRPC_PORT,
          `${address} reaches ${process}'s gRPC port`,
        );
      }
    }
  });

  test("the gateway reads DATABASE_URL from a Secret and so uses Postgres, never embedded PGlite", async () => {
    const { databaseConfigFromEnv } = await import("../../services/gateway/src/store/index.js");
    for (const w of WORKLOADS.filter((x) => x.process === "gateway")) {
      const source = w.env.get("DATABASE_URL");
      assert.equal(source?.kind, "secret", `${w.overlay}: DATABASE_URL comes from a Secret`);
      const env = { ...literalEnv(w.env), DATABASE_URL: "postgres://u:p@db:5432/diffda" };
      assert.equal(databaseConfigFromEnv(env).kind, "postgres");
    }
  });

  test("gateway replicas share nothing on disk: more than one means the S3 store and no claimed volume", () => {
    for (const w of WORKLOADS.filter((x) => x.process === "gateway")) {
      const config = bootConfig(w, configs.get("gateway")!);
      const pod = podOf(w.object).spec as { volumes?: { name: string; persistentVolumeClaim?: object }[] };
      const claimed = (pod.volumes ?? []).filter((v) => v.persistentVolumeClaim !== undefined);
      const replicas = (w.object.spec as { replicas?: number }).replicas ?? 1;
      if (config.ARTIFACT_STORE === "s3") {
        assert.ok(config.S3_BUCKET, `${w.overlay}: S3_BUCKET is set`);
        assert.deepEqual(claimed, [], `${w.overlay}: the S3 store needs no volume`);
      } else {
        assert.equal(replicas, 1, `${w.overlay}: a local artifact store serves one gateway replica only`);
        assert.equal(claimed.length, 1, `${w.overlay}: the local store is on a claimed volume`);
      }
    }
    for (const overlay of ["cpu", "gpu"]) {
      const gateway = WORKLOADS.find((w) => w.overlay === overlay && w.process === "gateway");
      assert.equal(gateway && bootConfig(gateway, configs.get("gateway")!).ARTIFACT_STORE, "s3", overlay);
      assert.deepEqual(find(OVERLAYS.get(overlay) ?? [], "PersistentVolumeClaim", "diffda-artifacts"), []);
    }
    // cpu brings its own MinIO: the gateway creates the bucket and streams downloads (no signed links).
    const cpu = WORKLOADS.find((w) => w.overlay === "cpu" && w.process === "gateway")!;
    const cpuConfig = bootConfig(cpu, configs.get("gateway")!);
    assert.equal(cpuConfig.S3_ENDPOINT, "http://diffda-minio:9000");
    assert.deepEqual([cpuConfig.S3_CREATE_BUCKET, cpuConfig.S3_SIGNED_DOWNLOADS], [true, false]);
    assert.equal(find(OVERLAYS.get("cpu")!, "StatefulSet", "diffda-minio").length, 1);
  });

  test("every Secret a manifest reads is one docs/deploy.md tells the operator to create", () => {
    const docs = readFileSync(join(REPO_ROOT, "docs", "deploy.md"), "utf8");
    for (const [overlay, objects] of OVERLAYS) {
      for (const o of [...find(objects, "Deployment"), ...find(objects, "StatefulSet")]) {
        for (const c of podOf(o).spec.containers) {
          for (const [name, source] of containerEnv(objects, c)) {
            if (source.kind !== "secret") continue;
            assert.ok(
              docs.includes(`\`${source.secret}\``) && docs.includes(`\`${source.key}\``),
              `${overlay}: ${name} reads Secret ${source.secret}/${source.key}, not documented`,
            );
          }
        }
      }
    }
  });

  test("gRPC is mTLS: services and the gateway read certificates from read-only Secret volumes", () => {
    const docs = readFileSync(join(REPO_ROOT, "docs", "deploy.md"), "utf8");
    for (const overlay of OVERLAYS.keys()) {
      for (const w of WORKLOADS.filter((x) => x.overlay === overlay)) {
        const config = bootConfig(w, configs.get(w.process)!);
        // Each file under cert-manager's key name, so that a Certificate's Secret mounts as is.
        const files: [unknown, string][] =
          w.process === "gateway"
            ? [
                [config.GRPC_TLS_CA_FILE, "ca.crt"],
                [config.GRPC_TLS_CERT_FILE, "tls.crt"],
                [config.GRPC_TLS_KEY_FILE, "tls.key"],
              ]
            : [
                [config.GRPC_TLS_CERT_FILE, "tls.crt"],
                [config.GRPC_TLS_KEY_FILE, "tls.key"],
                [config.GRPC_TLS_CLIENT_CA_FILE, "ca.crt"],
              ];
        const pod = podOf(w.object).spec as unknown as {
          volumes: { name: string; secret?: { secretName: string } }[];
        };
        const mounts =
          (w.container as { volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[] })
            .volumeMounts ?? [];
        for (const [file, key] of files) {
          assert.equal(typeof file, "string", `${overlay} ${w.process}: ${key} is not configured`);
          const mount = mounts.find((m) => (file as string).startsWith(`${m.mountPath}/`));
          assert.ok(mount, `${overlay} ${w.process}: ${file} is on no volume`);
          assert.equal(mount.readOnly, true, `${overlay} ${w.process}: ${mount.name} is read-only`);
          const secret = pod.volumes.find((v) => v.name === mount.name)?.secret?.secretName;
          assert.ok(secret, `${overlay} ${w.process}: ${mount.name} is a Secret volume`);
          assert.equal((file as string).slice(mount.mountPath.length + 1), key);
          assert.ok(docs.includes(`\`${secret}\``), `${overlay}: Secret ${secret} is not in docs/deploy.md`);
        }
      }
    }
  });

  test("NetworkPolicies: compute gRPC only from the gateway, metrics only from Prometheus, ports by real names", () => {
    for (const [overlay, objects] of OVERLAYS) {
      const policies = find(objects, "NetworkPolicy");
      const defaultDeny = policies.find(
        (p) =>
          !(p.spec as { ingress?: unknown[] }).ingress &&
          (p.spec as { policyTypes: string[] }).policyTypes.includes("Ingress"),
      );
      assert.ok(defaultDeny, `${overlay}: a default-deny ingress policy`);
      for (const w of WORKLOADS.filter((x) => x.overlay === overlay)) {
        const labels = podOf(w.object).labels;
        const mine = policies.filter((p) => {
          const selector = (p.spec as { podSelector: { matchLabels?: Record<string, string> } }).podSelector;
          return Object.entries(selector.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
        });
        assert.ok(mine.includes(defaultDeny), `${overlay}: ${w.process} is under the default deny`);
        const rules = mine.flatMap(
          (p) =>
            (
              p.spec as {
                ingress?: { from?: Record<string, unknown>[]; ports?: { port: string | number }[] }[];
              }
            ).ingress ?? [],
        );
        for (const rule of rules) {
          for (const port of rule.ports ?? []) {
            const number = portNumber(w.container, port.port);
            if (w.process === "gateway") continue;
            const name = w.container.ports?.find((p) => p.containerPort === number)?.name;
            const from = rule.from ?? [];
            assert.ok(from.length > 0, `${overlay}: ${w.process} port ${name} open to everyone`);
            for (const peer of from) {
              const pod = (peer.podSelector as { matchLabels?: Record<string, string> } | undefined)
                ?.matchLabels;
              if (name === "grpc") {
                assert.equal(peer.namespaceSelector, undefined, "gRPC only from this namespace");
                assert.equal(
                  pod?.["app.kubernetes.io/name"],
                  "gateway",
                  `${overlay}: ${w.process} gRPC peer`,
                );
              } else {
                assert.equal(name, "metrics", `${overlay}: ${w.process} opens ${name}`);
                assert.equal(pod?.["app.kubernetes.io/name"], "prometheus");
              }
            }
          }
        }
      }
    }
  });

  test("ServiceMonitors scrape /metrics on a port of a Service they select", () => {
    for (const [overlay, objects] of OVERLAYS) {
      const monitors = find(objects, "ServiceMonitor");
      assert.equal(monitors.length, 4, `${overlay}: one ServiceMonitor per process`);
      for (const m of monitors) {
        const spec = m.spec as {
          selector: { matchLabels: Record<string, string> };
          endpoints: { port: string; path: string }[];
        };
        const services = find(objects, "Service").filter((s) =>
          Object.entries(spec.selector.matchLabels).every(([k, v]) => s.metadata.labels?.[k] === v),
        );
        assert.equal(
          services.length,
          1,
          `${overlay}: ${m.metadata.name} selects ${services.length} Services`,
        );
        const ports = (services[0].spec as { ports: { name: string }[] }).ports.map((p) => p.name);
        for (const e of spec.endpoints) {
          assert.ok(ports.includes(e.port), `${m.metadata.name}: no port ${e.port}`);
          assert.equal(e.path, "/metrics");
        }
      }
    }
  });

  test("the Ingress exposes the API only, and lets uploads as big as the gateway accepts through", () => {
    for (const w of WORKLOADS.filter((x) => x.process === "gateway")) {
      const objects = OVERLAYS.get(w.overlay)!;
      const [ingress] = find(objects, "Ingress");
      const spec = ingress.spec as {
        rules: {
          http: { paths: { path: string; backend: { service: { name: string; port: { name: string } } } }[] };
        }[];
      };
      const paths = spec.rules.flatMap((r) => r.http.paths);
      assert.deepEqual(paths.map((p) => p.path).sort(), ["/openapi.json", "/v1"]);
      for (const p of paths) {
        const service = get(objects, "Service", p.backend.service.name);
        assert.ok(
          (service.spec as { ports: { name: string }[] }).ports.some(
            (x) => x.name === p.backend.service.port.name,
          ),
        );
      }
      const size = /^(\d+)m$/.exec(
        (ingress.metadata.annotations as Record<string, string>)[
          "nginx.ingress.kubernetes.io/proxy-body-size"
        ],
      );
      assert.ok(size);
      const limit = bootConfig(w, configs.get("gateway")!).UPLOAD_BODY_LIMIT_BYTES as number;
      assert.ok(Number(size[1]) * 1024 * 1024 >= limit, "proxy-body-size below UPLOAD_BODY_LIMIT_BYTES");
    }
  });

  test("gRPC messages the gateway may send fit what each service accepts, and back", (t) => {
    for (const gw of WORKLOADS.filter((x) => x.process === "gateway")) {
      const gateway = bootConfig(gw, configs.get("gateway")!);
      for (const w of WORKLOADS.filter((x) => x.overlay === gw.overlay && x.process !== "gateway")) {
        if (missingReason(w.process)) {
          t.diagnostic(`${w.process}: ${missingReason(w.process)}`);
          continue;
        }
        const service = bootConfig(w, configs.get(w.process)!);
        assert.ok(
          (gateway.GRPC_MAX_MESSAGE_BYTES as number) <= (service.GRPC_MAX_RECEIVE_MESSAGE_BYTES as number),
        );
        assert.ok(
          (service.GRPC_MAX_SEND_MESSAGE_BYTES as number) <= (gateway.GRPC_MAX_MESSAGE_BYTES as number),
        );
      }
    }
  });

  test("every compute service reads EXECUTION_PROVIDER: cuda in gpu (its GPU), the CPU in cpu", () => {
    for (const w of WORKLOADS.filter((x) => x.process !== "gateway")) {
      const config = configs.get(w.process);
      assert.ok(config, `services/${w.process} is in the tree`);
      assert.ok("EXECUTION_PROVIDER" in config.schema, `${w.process} reads EXECUTION_PROVIDER`);
      assert.equal(
        bootConfig(w, config).EXECUTION_PROVIDER,
        w.overlay === "gpu" ? "cuda" : "cpu",
        `${w.overlay} ${w.process}`,
      );
    }
  });

  test("an aged connection's grace covers the gateway's deadline of every call to that service", () => {
    // A call may start just before its connection reaches GRPC_MAX_CONNECTION_AGE_MS; it must not be cut
    // while the gateway still waits for it.
    const deadlines: Record<string, string[]> = {
      finetune: ["FINETUNE_TIMEOUT_MS"],
      generation: ["GENERATE_TIMEOUT_MS"],
      classifier: ["TRAIN_TIMEOUT_MS", "EVALUATE_TIMEOUT_MS"],
    };
    for (const gw of WORKLOADS.filter((x) => x.process === "gateway")) {
      const gateway = bootConfig(gw, configs.get("gateway")!);
      for (const w of WORKLOADS.filter((x) => x.overlay === gw.overlay && x.process !== "gateway")) {
        const service = bootConfig(w, configs.get(w.process)!);
        for (const name of deadlines[w.process]) {
          assert.ok(
            (service.GRPC_MAX_CONNECTION_AGE_GRACE_MS as number) >= (gateway[name] as number),
            `${w.overlay} ${w.process}: GRPC_MAX_CONNECTION_AGE_GRACE_MS < the gateway's ${name}`,
          );
        }
      }
    }
  });

  test("gpu: every compute service asks for one GPU, tolerates the taint and selects GPU nodes; cpu: none", () => {
    for (const w of WORKLOADS) {
      const pod = podOf(w.object).spec;
      const gpus = w.container.resources?.limits?.["nvidia.com/gpu"];
      if (w.overlay === "gpu" && w.process !== "gateway") {
        assert.equal(Number(gpus), 1, `${w.process}`);
        assert.ok(pod.tolerations?.some((t) => t.key === "nvidia.com/gpu" && t.effect === "NoSchedule"));
        assert.ok(Object.keys(pod.nodeSelector ?? {}).length > 0);
        assert.match(w.container.image, /-cuda$/);
      } else {
        assert.equal(gpus, undefined, `${w.overlay} ${w.process}`);
        assert.doesNotMatch(w.container.image, /-cuda$/);
      }
    }
  });
});

describe("autoscaling and metrics", () => {
  let gateway: Map<string, MetricFamily>;
  let hosts: Map<string, Map<string, MetricFamily>>;
  /** Every exposition, as each process serves it. */
  const texts = new Map<string, string>();
  before(async () => {
    gateway = await gatewayMetrics((text) => texts.set("gateway", text));
    hosts = new Map();
    const { parseExposition } = await import("./served.js");
    for (const name of PROCESSES.filter((p) => p !== "gateway" && !missingReason(p))) {
      const host: HostUnderTest = await startHost(name);
      try {
        const text = (await host.get("/metrics")).text;
        texts.set(name, text);
        hosts.set(name, parseExposition(text));
      } finally {
        await host.close();
      }
    }
  });
  after(() => {});

  test("generation is scaled by KEDA on the gateway's queue depth, with a threshold of one replica's shards", () => {
    for (const [overlay, objects] of OVERLAYS) {
      const [scaled] = find(objects, "ScaledObject");
      const spec = scaled.spec as {
        scaleTargetRef: { name: string; kind?: string };
        minReplicaCount: number;
        maxReplicaCount: number;
        triggers: { type: string; metadata: { query: string; threshold: string } }[];
      };
      const target = get(objects, "Deployment", spec.scaleTargetRef.name);
      assert.equal(processOfImage(podOf(target).spec.containers[0].image), "generation");
      assert.equal((target.spec as { replicas?: number }).replicas, undefined, "KEDA owns replicas");
      const [trigger] = spec.triggers;
      assert.equal(trigger.type, "prometheus");
      const names = [...trigger.metadata.query.matchAll(/\bdiffda_[a-z0-9_]+/g)].map((m) => m[0]);
      assert.deepEqual(names, ["diffda_queue_depth"]);
      const family = gateway.get("diffda_queue_depth")!;
      assert.ok(family, "the gateway exports diffda_queue_depth");
      // Label matchers name labels and values the gauge really has.
      for (const m of trigger.metadata.query.matchAll(/([a-z_]+)\s*(=~|=|!=)\s*"([^"]*)"/g)) {
        const [, label, op, value] = m;
        const values = new Set<string | undefined>(family.series.map((s) => s[label]));
        assert.ok(!values.has(undefined), `${label} is a label of diffda_queue_depth`);
        const wanted = op === "=~" ? value.split("|") : [value];
        for (const v of wanted) assert.ok(values.has(v), `${overlay}: ${label}="${v}" never exported`);
      }
      const generation = WORKLOADS.find((w) => w.overlay === overlay && w.process === "generation")!;
      const gatewayW = WORKLOADS.find((w) => w.overlay === overlay && w.process === "gateway")!;
      const perReplica = Number(literalEnv(generation.env).GENERATION_MAX_CONCURRENT_SHARDS ?? "2");
      if (!missingReason("generation")) {
        const config = bootConfig(generation, configs.get("generation")!);
        assert.equal(Number(trigger.metadata.threshold), config.GENERATION_MAX_CONCURRENT_SHARDS);
      }
      const gw = bootConfig(gatewayW, configs.get("gateway")!);
      const gatewayReplicas = (gatewayW.object.spec as { replicas?: number }).replicas ?? 1;
      assert.ok(
        (gw.GENERATION_CONCURRENCY as number) * gatewayReplicas >= spec.maxReplicaCount * perReplica,
        `${overlay}: the gateways cannot keep ${spec.maxReplicaCount} replicas busy`,
      );
    }
  });

  test("the gateway and every service expose diffda_ metrics; service readiness is a metric", (t) => {
    assert.ok(gateway.has("diffda_jobs_submitted_total"));
    for (const [name, families] of hosts) {
      assert.ok(families.has("diffda_service_ready"), name);
      assert.ok(families.has("grpc_server_handled_total"), name);
    }
    for (const p of PROCESSES) if (missingReason(p)) t.diagnostic(`${p}: ${missingReason(p)}`);
  });

  test("every exposition passes the promtool-style naming lint", () => {
    assert.ok(texts.size >= 2, "the gateway and at least one service");
    for (const [name, text] of texts) assert.deepEqual(lintExposition(text), [], name);
  });

  /** Metric names in PromQL expressions that no process exports (processes that cannot start here aside). */
  function unknownMetrics(exprs: readonly string[]): string[] {
    const known = new Set([
      ...seriesNames(gateway),
      ...[...hosts.values()].flatMap((h) => [...seriesNames(h)]),
    ]);
    const unknown = new Set<string>();
    for (const expr of exprs) {
      for (const [name] of expr.matchAll(/\b(?:diffda|grpc_server|process|nodejs)_[a-z0-9_]+/g)) {
        if (!known.has(name)) unknown.add(name);
      }
    }
    return [...unknown].filter(
      (n) => !PROCESSES.some((p) => missingReason(p) && n.startsWith(`diffda_${p}_`)),
    );
  }

  test("every metric the Grafana dashboard queries is one a process exports", () => {
    const dashboard = readFileSync(join(REPO_ROOT, "deploy", "grafana", "diffda.json"), "utf8");
    const exprs = [...dashboard.matchAll(/"expr":\s*"((?:[^"\\]|\\.)*)"/g)].map(
      (m) => JSON.parse(`"${m[1]}"`) as string,
    );
    assert.ok(exprs.length >= 8, "the dashboard has its panels");
    assert.deepEqual(unknownMetrics(exprs), [], "metrics the dashboard queries but no process exports");
  });

  test("the alerts query metrics that exist: failing jobs, a growing queue, services not ready, webhooks", () => {
    for (const [overlay, objects] of OVERLAYS) {
      const [rule] = find(objects, "PrometheusRule");
      assert.ok(rule, `${overlay}: a PrometheusRule`);
      const rules = (rule.spec as { groups: { rules: { alert: string; expr: string }[] }[] }).groups.flatMap(
        (g) => g.rules,
      );
      for (const alert of [
        "DiffdaJobsFailing",
        "DiffdaQueueGrowing",
        "DiffdaServiceNotReady",
        "DiffdaWebhookDeliveriesFailing",
      ]) {
        assert.ok(
          rules.some((r) => r.alert === alert),
          `${overlay}: ${alert}`,
        );
      }
      assert.deepEqual(
        unknownMetrics(rules.map((r) => r.expr)),
        [],
        `${overlay}: metrics the alerts query but no process exports`,
      );
    }
  });
});
