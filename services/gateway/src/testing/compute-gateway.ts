/**
 * A test gateway with a running orchestrator over fake compute services: what every end-to-end gateway
 * test starts (a store, an artifact directory, datasets with the tiny built-in, metrics, the REST app).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ByteDataset } from "../../../../shared/data/index.js";
import { createMetrics } from "../../../../shared/telemetry/index.js";
import type { AppDeps } from "../app.js";
import { ArtifactStore } from "../artifact-store.js";
import type { BlobStore } from "../blob-store.js";
import { DatasetService } from "../datasets/dataset-service.js";
import { generationCatalog } from "../models/catalog.js";
import {
  createOrchestrator,
  type Orchestrator,
  type OrchestratorOptions,
} from "../orchestrator/orchestrator.js";
import { createGatewayMetrics, type GatewayMetrics } from "../plugins/metrics.js";
import type { RestLimits } from "../routes/context.js";
import type { JobStore } from "../store/index.js";
import { openTestStore, TEST_LIMITS, type TestGateway, testGateway } from "../test-support.js";
import { WebhookDispatcher } from "../webhooks/dispatcher.js";
import { type FakeCompute, type FakeComputeOptions, startFakeCompute } from "./fake-compute.js";
import { tinyBuiltin } from "./tiny-builtin.js";

/** A running gateway, orchestrator and fake compute. */
export interface ComputeGateway {
  store: JobStore;
  gw: TestGateway;
  orchestrator: Orchestrator;
  compute: FakeCompute;
  artifacts: BlobStore;
  datasets: DatasetService;
  metrics: GatewayMetrics;
  /** Waits until a job is succeeded, failed or cancelled and returns its REST view. */
  // biome-ignore lint/suspicious/noExplicitAny: the job's JSON as tests read it, field by field
  waitFinal(id: string, headers?: Record<string, string>, timeoutMs?: number): Promise<Record<string, any>>;
  close(): Promise<void>;
}

/** Options: the fake compute's, and app dependencies to override (auth mode, collector …). */
export interface ComputeGatewayOptions {
  compute?: Partial<FakeComputeOptions>;
  app?: (deps: { store: JobStore; artifacts: BlobStore }) => Partial<AppDeps>;
  /** The artifact store (an S3 bucket, one shared by two gateways); default: a fresh temp directory. */
  artifacts?: BlobStore;
  /** The job store (one shared by two gateways); default: a fresh in-memory one, closed by `close()`. */
  store?: JobStore;
  /** Send webhooks: loopback http destinations allowed, a dispatcher polling every 20 ms. */
  webhooks?: boolean;
  /** The REST limits, the datasets' upload limits among them; default TEST_LIMITS. */
  limits?: RestLimits;
  /** The built-in dataset every `builtin` name loads; default the 2-class tiny built-in. */
  builtin?: () => ByteDataset;
  /** The orchestrator's settings that tests vary; defaults below. */
  orchestrator?: Partial<Pick<OrchestratorOptions, "models" | "progressIntervalMs" | "concurrency">>;
}

/** Destinations tests may use: plain http to loopback receivers. */
export const TEST_DESTINATIONS = { allowHttp: true, allowPrivate: true } as const;

/** Starts the stack; `close()` stops it and removes its files. */
export async function startComputeGateway(options: ComputeGatewayOptions = {}): Promise<ComputeGateway> {
  const store = options.store ?? (await openTestStore());
  const compute = await startFakeCompute({ classes: 2, imageSize: 4, timeoutMs: 10_000, ...options.compute });
  const artifactDir = await mkdtemp(join(tmpdir(), "diffda-compute-gateway-"));
  const artifacts = options.artifacts ?? new ArtifactStore(artifactDir);
  const datasets = new DatasetService({
    datasets: store.datasets,
    artifacts,
    limits: (options.limits ?? TEST_LIMITS).upload,
    loadBuiltin: async () => (options.builtin ?? tinyBuiltin)(),
  });
  const metrics = createGatewayMetrics(createMetrics({ defaultMetrics: false }), () =>
    store.tasks.queueDepth(),
  );
  const orchestrator = createOrchestrator({
    metrics,
    tasks: store.tasks,
    store,
    artifacts,
    datasets,
    clients: compute.clients,
    models: { base: "tiny-sd", instruct: "tiny-ip2p", architecture: "resnet8" },
    progressIntervalMs: 0,
    pollMs: 20,
    leaseMs: 5_000,
    concurrency: { generate: 2, train: 2, evaluate: 2 },
    ...options.orchestrator,
  });
  const gw = await testGateway({
    ...(options.limits ? { limits: options.limits } : {}),
    store,
    artifacts,
    datasets,
    orchestrator,
    metrics,
    models: generationCatalog(compute.clients.generation),
    ...(options.webhooks ? { webhookDestinations: TEST_DESTINATIONS } : {}),
    ...options.app?.({ store, artifacts }),
  });
  const dispatcher = options.webhooks
    ? new WebhookDispatcher(
        { webhooks: store.webhooks, metrics },
        { destinations: TEST_DESTINATIONS, pollMs: 20 },
      )
    : undefined;
  orchestrator.start();
  dispatcher?.start();
  return {
    store,
    gw,
    orchestrator,
    compute,
    artifacts,
    datasets,
    metrics,
    async waitFinal(id, headers = {}, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const res = await gw.app.inject({ method: "GET", url: `/v1/jobs/${id}`, headers });
        if (["succeeded", "failed", "cancelled"].includes(res.json().state)) return res.json();
        if (Date.now() > deadline) throw new Error(`job ${id} still ${res.json().state}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    async close() {
      await dispatcher?.stop();
      await orchestrator.stop(0);
      await compute.close();
      await gw.close();
      if (options.store === undefined) await store.close();
      await rm(artifactDir, { recursive: true, force: true });
    },
  };
}
