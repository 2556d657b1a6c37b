/**
 * The app factory: `buildApp(deps)` returns a ready fastify instance over the given store, artifact store
 * and orchestrator, without listening, so tests `inject()` requests and main.ts decides where to listen.
 * Plugins load in tiers: errors and metrics (observe everything) → auth (who is calling) → idempotency
 * (POST replay) → the text rule (every string before validation) → routes, one file per resource.
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from "fastify";
import { createMetrics } from "../../../shared/telemetry/index.js";
import type { BlobStore } from "./blob-store.js";
import { DatasetService } from "./datasets/dataset-service.js";
import { DEFAULT_HTTP_LIMITS, type HttpLimits, serverOptions } from "./http-limits.js";
import { ArtifactCollector, DEFAULT_COLLECTOR_OPTIONS } from "./lifecycle/collector.js";
import type { ModelCatalog } from "./models/catalog.js";
import { collectRoutes, type RouteEntry } from "./openapi.js";
import { authPlugin, type RateLimiter } from "./plugins/auth.js";
import { type AuthFailureThrottle, createAuthFailureThrottle } from "./plugins/auth-failures.js";
import { bodyTimeoutPlugin } from "./plugins/body-timeout.js";
import { errorsPlugin } from "./plugins/errors.js";
import { httpErrorsPlugin } from "./plugins/http-errors.js";
import { idempotencyPlugin } from "./plugins/idempotency.js";
import { createGatewayMetrics, type GatewayMetrics, metricsPlugin } from "./plugins/metrics.js";
import { textPlugin } from "./plugins/text.js";
import { UploadSlots } from "./plugins/upload-slots.js";
import { adapterRoutes } from "./routes/adapters.js";
import { artifactRoutes } from "./routes/artifacts.js";
import type { AppContext, OrchestratorFacade, RestLimits } from "./routes/context.js";
import { datasetRoutes } from "./routes/datasets.js";
import { eventRoutes } from "./routes/events.js";
import { jobRoutes } from "./routes/jobs.js";
import { keyRoutes } from "./routes/keys.js";
import { methodRoutes } from "./routes/methods.js";
import { modelRoutes } from "./routes/models.js";
import { serviceRoutes } from "./routes/service.js";
import { syntheticRoutes } from "./routes/synthetic.js";
import { usageRoutes } from "./routes/usage.js";
import { webhookRoutes } from "./routes/webhooks.js";
import type { JobStore } from "./store/index.js";
import { createValidatorCompiler } from "./validator.js";
import { type DestinationPolicy, STRICT_DESTINATIONS } from "./webhooks/destination.js";

/** Version reported in the OpenAPI document. */
export const API_VERSION = "0.1.0";

/** What {@link buildApp} needs. */
export interface AppDeps {
  store: JobStore;
  artifacts: BlobStore;
  limits: RestLimits;
  /** `required`: every scoped route needs a key; `loopback-open`: local callers without a key are admin. */
  authMode: "required" | "loopback-open";
  /** A pino logger; none: fastify logs nothing. */
  logger?: FastifyBaseLogger;
  /** Default: a fresh registry without process metrics. */
  metrics?: GatewayMetrics;
  /** Default: aborts nothing (an API-only replica; other replicas learn of cancels by heartbeat). */
  orchestrator?: OrchestratorFacade;
  /** Default: a service over the store and artifact store with shared/data's built-in loader. */
  datasets?: DatasetService;
  /** Backoff for repeated authentication failures per client address. Default: its standard limits. */
  authFailures?: AuthFailureThrottle;
  /** Per-key rate limits. Default: the store's token buckets, shared by every replica on the database. */
  limiter?: RateLimiter;
  /** Shared with main.ts, which sets `draining` on SIGTERM. */
  lifecycle?: { draining: boolean };
  /** Frees deleted resources' blobs. Default: a collector with {@link DEFAULT_COLLECTOR_OPTIONS}. */
  collector?: ArtifactCollector;
  /** Request timeouts and the upload cap. Default: {@link DEFAULT_HTTP_LIMITS}. */
  http?: Partial<HttpLimits>;
  /** The served models (GET /v1/models, and jobs naming a model are checked against it). */
  models?: ModelCatalog;
  /** Which webhook destinations jobs may name. Default: {@link STRICT_DESTINATIONS} (public https only). */
  webhookDestinations?: DestinationPolicy;
}

/** Builds the gateway's fastify app (call `ready()` or `inject()`; main.ts calls `listen()`). */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const http: HttpLimits = { ...DEFAULT_HTTP_LIMITS, ...deps.http };
  const app = Fastify({
    ...serverOptions(http),
    ...(deps.logger ? { loggerInstance: deps.logger } : { logger: false }),
    bodyLimit: deps.limits.jsonBodyBytes,
    return503OnClosing: true,
    forceCloseConnections: "idle",
  }) as unknown as FastifyInstance;
  // Bodies are validated without type coercion, text parts (query, params, headers) with it.
  app.setValidatorCompiler(createValidatorCompiler());
  // Only JSON (and zip on the dataset route): a text/plain body is a 415, not a string to validate.
  app.removeContentTypeParser("text/plain");

  const metrics =
    deps.metrics ??
    createGatewayMetrics(createMetrics({ defaultMetrics: false }), () => deps.store.tasks.queueDepth());
  const context: AppContext = {
    store: deps.store,
    artifacts: deps.artifacts,
    datasets:
      deps.datasets ??
      new DatasetService({
        datasets: deps.store.datasets,
        artifacts: deps.artifacts,
        limits: deps.limits.upload,
      }),
    metrics,
    orchestrator: deps.orchestrator ?? { abort: () => {} },
    limits: deps.limits,
    collector:
      deps.collector ??
      new ArtifactCollector({ store: deps.store, artifacts: deps.artifacts }, DEFAULT_COLLECTOR_OPTIONS),
    lifecycle: deps.lifecycle ?? { draining: false },
    webhookDestinations: deps.webhookDestinations ?? STRICT_DESTINATIONS,
    models: deps.models,
  };

  const routes: RouteEntry[] = [];
  app.addHook("onRoute", collectRoutes(routes));

  await app.register(errorsPlugin, {});
  await app.register(httpErrorsPlugin, {});
  await app.register(bodyTimeoutPlugin, { idleMs: http.bodyIdleTimeoutMs });
  await app.register(metricsPlugin, { metrics });
  await app.register(authPlugin, {
    apiKeys: deps.store.apiKeys,
    mode: deps.authMode,
    limiter: deps.limiter ?? deps.store.rateLimits,
    failures: deps.authFailures ?? createAuthFailureThrottle(),
  });
  await app.register(idempotencyPlugin, { repository: deps.store.idempotency });
  await app.register(textPlugin, {});

  await app.register(serviceRoutes, { context, routes, version: API_VERSION });
  await app.register(methodRoutes);
  await app.register(keyRoutes, { context });
  await app.register(datasetRoutes, {
    context,
    uploadSlots: new UploadSlots(http.maxUploadsInFlight, deps.limits.jsonBodyBytes),
  });
  await app.register(jobRoutes, { context });
  await app.register(eventRoutes, { context });
  await app.register(artifactRoutes, { context });
  await app.register(syntheticRoutes, { context });
  await app.register(usageRoutes, { context });
  await app.register(webhookRoutes, { context });
  await app.register(modelRoutes, { context });
  await app.register(adapterRoutes, { context });
  await app.ready();
  return app;
}
