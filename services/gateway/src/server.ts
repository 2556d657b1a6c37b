/**
 * The gateway process assembled from configuration: store, artifact store, compute clients, orchestrator,
 * webhook dispatcher and the HTTP app, with graceful shutdown. `main.ts` only calls {@link startGateway};
 * tests and the embedded runner may call it with their own environment.
 */
import type { FastifyInstance } from "fastify";
import { clientSecurity } from "../../../shared/config/index.js";
import { createLogger, createMetrics, type Logger } from "../../../shared/telemetry/index.js";
import { buildApp } from "./app.js";
import {
  httpLimitsFromEnv,
  isLoopbackHost,
  loadGatewayEnv,
  resolveAuthMode,
  restLimitsFromEnv,
} from "./config.js";
import { DatasetService } from "./datasets/dataset-service.js";
import { ArtifactCollector } from "./lifecycle/collector.js";
import { generationCatalog } from "./models/catalog.js";
import { openBlobStore } from "./open-blob-store.js";
import { createComputeClients } from "./orchestrator/compute-clients.js";
import { createOrchestrator, type Orchestrator } from "./orchestrator/orchestrator.js";
import { createAuthFailureThrottle } from "./plugins/auth-failures.js";
import { createGatewayMetrics } from "./plugins/metrics.js";
import { databaseConfigFromEnv, type JobStore, openJobStore } from "./store/index.js";
import { WebhookDispatcher } from "./webhooks/dispatcher.js";

/** A running gateway. */
export interface RunningGateway {
  app: FastifyInstance;
  store: JobStore;
  orchestrator: Orchestrator | undefined;
  logger: Logger;
  /** The address the HTTP server listens on. */
  address: string;
  /** Drains: readiness fails, tasks finish or are handed back, the server and the store close. */
  stop(): Promise<void>;
}

/** Starts a gateway from `env` (validated first: a bad variable throws ConfigError before anything opens). */
export async function startGateway(
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<RunningGateway> {
  const config = loadGatewayEnv(env);
  const logger = createLogger({ service: "gateway", level: config.LOG_LEVEL });
  const authMode = resolveAuthMode(config);
  if (authMode === "loopback-open" && !isLoopbackHost(config.HOST)) {
    logger.warn(
      { host: config.HOST },
      "AUTH_MODE=loopback-open on a non-loopback address: local callers need no key, every other caller does",
    );
  }
  const artifacts = await openBlobStore(config);
  const store = await openJobStore(databaseConfigFromEnv(env), {
    budget: { infraRetryMs: config.TASK_INFRA_RETRY_MS, maxLeaseLosses: config.TASK_MAX_LEASE_LOSSES },
    webhookProgressIntervalMs: config.WEBHOOK_PROGRESS_INTERVAL_MS,
  });
  const limits = restLimitsFromEnv(config);
  const metrics = createGatewayMetrics(createMetrics({ defaultLabels: { service: "gateway" } }), () =>
    store.tasks.queueDepth(),
  );
  const datasets = new DatasetService({ datasets: store.datasets, artifacts, limits: limits.upload });
  const day = 86_400_000;
  const collector = new ArtifactCollector(
    { store, artifacts, logger },
    {
      graceMs: config.ARTIFACT_GC_GRACE_MS,
      jobRetentionMs: config.JOB_RETENTION_DAYS * day,
      datasetRetentionMs: config.DATASET_RETENTION_DAYS * day,
    },
  );
  const webhookDestinations = {
    allowHttp: config.WEBHOOK_ALLOW_HTTP,
    allowPrivate: config.WEBHOOK_ALLOW_PRIVATE,
  };
  const dispatcher = config.SEND_WEBHOOKS
    ? new WebhookDispatcher(
        { webhooks: store.webhooks, metrics, logger },
        {
          destinations: webhookDestinations,
          timeoutMs: config.WEBHOOK_TIMEOUT_MS,
          retryForMs: config.WEBHOOK_RETRY_FOR_MS,
          pollMs: config.WEBHOOK_POLL_MS,
          concurrency: config.WEBHOOK_CONCURRENCY,
        },
      )
    : undefined;
  const clients = createComputeClients({
    finetuneAddress: config.FINETUNE_ADDRESS,
    generationAddresses: config.GENERATION_ADDRESSES,
    classifierAddress: config.CLASSIFIER_ADDRESS,
    limits: {
      maxReceiveMessageBytes: config.GRPC_MAX_MESSAGE_BYTES,
      maxSendMessageBytes: config.GRPC_MAX_MESSAGE_BYTES,
    },
    finetuneTimeoutMs: config.FINETUNE_TIMEOUT_MS,
    generateTimeoutMs: config.GENERATE_TIMEOUT_MS,
    trainTimeoutMs: config.TRAIN_TIMEOUT_MS,
    evaluateTimeoutMs: config.EVALUATE_TIMEOUT_MS,
    security: clientSecurity(config),
  });
  const orchestrator = config.RUN_TASKS
    ? createOrchestrator({
        tasks: store.tasks,
        store,
        artifacts,
        datasets,
        clients,
        metrics,
        models: {
          base: config.BASE_MODEL,
          instruct: config.INSTRUCT_MODEL,
          architecture: config.CLASSIFIER_ARCHITECTURE,
        },
        uploadChunkBytes: config.UPLOAD_CHUNK_BYTES,
        leaseMs: config.TASK_LEASE_MS,
        concurrency: {
          generate: config.GENERATION_CONCURRENCY * config.GENERATION_ADDRESSES.length,
          train: config.CLASSIFIER_CONCURRENCY,
          evaluate: config.CLASSIFIER_CONCURRENCY,
        },
        logger,
      })
    : undefined;
  const lifecycle = { draining: false };
  const app = await buildApp({
    models: generationCatalog(clients.generation),
    store,
    artifacts,
    limits,
    authMode,
    logger,
    metrics,
    datasets,
    collector,
    lifecycle,
    authFailures: createAuthFailureThrottle({
      freeFailures: config.AUTH_FAILURES_FREE,
      maxBlockMs: config.AUTH_FAILURE_MAX_BLOCK_MS,
    }),
    http: httpLimitsFromEnv(config),
    webhookDestinations,
    ...(orchestrator ? { orchestrator } : {}),
  });
  let address: string;
  try {
    address = await app.listen({ host: config.HOST, port: config.PORT });
  } catch (error) {
    await app.close();
    clients.close();
    await store.close();
    throw error;
  }
  orchestrator?.start();
  collector.start(config.ARTIFACT_GC_INTERVAL_MS);
  dispatcher?.start();
  logger.info(
    {
      address,
      authMode,
      runTasks: config.RUN_TASKS,
      sendWebhooks: config.SEND_WEBHOOKS,
      artifactStore: artifacts.kind,
    },
    "gateway listening",
  );
  let stopping: Promise<void> | undefined;
  return {
    app,
    store,
    orchestrator,
    logger,
    address,
    stop() {
      stopping ??= (async () => {
        lifecycle.draining = true;
        // Attempts in flight get the same grace as tasks; the rest are made again after their lease.
        await Promise.all([
          orchestrator?.stop(config.DRAIN_GRACE_MS),
          dispatcher?.stop(config.DRAIN_GRACE_MS),
        ]);
        await collector.stop();
        await app.close();
        clients.close();
        await store.close();
        logger.info("gateway stopped");
      })();
      return stopping;
    },
  };
}
