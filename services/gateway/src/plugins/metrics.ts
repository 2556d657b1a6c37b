/**
 * The gateway's Prometheus metrics: HTTP request durations by route pattern, jobs submitted and finished
 * by state, queue depth per task kind read from the store at scrape time, and stage durations. Labels
 * hold bounded values only (method, route pattern, status, state, kind): job ids, prompts and dataset
 * names live in the store and the REST API.
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import { type Counter, Gauge, type Histogram } from "prom-client";
import {
  LATENCY_SECONDS_BUCKETS,
  METRIC_PREFIX,
  type Metrics,
  STAGE_SECONDS_BUCKETS,
} from "../../../../shared/telemetry/index.js";
import type { QueueDepth } from "../store/index.js";
import { appPlugin } from "./plugin.js";

/** The gateway's metric handles, shared by the REST layer and the orchestrator. */
export interface GatewayMetrics {
  readonly metrics: Metrics;
  readonly httpDuration: Histogram<"method" | "route" | "status_code">;
  readonly jobsSubmitted: Counter<never>;
  readonly jobsFinished: Counter<"outcome">;
  readonly queueDepth: Gauge<"kind" | "state">;
  readonly stageDuration: Histogram<"kind" | "outcome">;
  readonly generatedImages: Counter<never>;
  readonly webhookDeliveries: Counter<"outcome">;
}

/** Registers the gateway's metrics in `metrics.registry`; `depth` is read at every scrape. */
export function createGatewayMetrics(
  metrics: Metrics,
  depth: () => Promise<Record<string, QueueDepth>>,
): GatewayMetrics {
  return {
    metrics,
    httpDuration: metrics.histogram({
      name: "http_request_duration_seconds",
      help: "HTTP request duration by method, route pattern and status code",
      labelNames: ["method", "route", "status_code"],
      buckets: LATENCY_SECONDS_BUCKETS,
    }),
    jobsSubmitted: metrics.counter({ name: "jobs_submitted_total", help: "Jobs accepted by POST /v1/jobs" }),
    jobsFinished: metrics.counter({
      name: "jobs_finished_total",
      help: "Jobs this gateway saw reach a final state, by outcome (succeeded, failed, cancelled)",
      labelNames: ["outcome"],
    }),
    // Built directly (the shared helper takes no collect callback), under the same naming rules.
    queueDepth: new Gauge<"kind" | "state">({
      name: `${METRIC_PREFIX}queue_depth`,
      help: "Tasks of active jobs by kind and readiness: runnable now, waiting (dependencies or backoff), running",
      labelNames: ["kind", "state"],
      registers: [metrics.registry],
      // prom-client awaits an async collect before each scrape.
      async collect() {
        this.reset();
        for (const [kind, counts] of Object.entries(await depth())) {
          for (const state of ["runnable", "waiting", "running"] as const)
            this.set({ kind, state }, counts[state]);
        }
      },
    }),
    stageDuration: metrics.histogram({
      name: "job_stage_duration_seconds",
      help: "Duration of one task (a job stage) by kind and outcome",
      labelNames: ["kind", "outcome"],
      buckets: STAGE_SECONDS_BUCKETS,
    }),
    generatedImages: metrics.counter({
      name: "generated_images_total",
      help: "Synthetic images received from generation replicas and stored",
    }),
    webhookDeliveries: metrics.counter({
      name: "webhook_deliveries_total",
      help: "Webhook attempts by outcome: succeeded (2xx), retried (scheduled again), failed (gave up)",
      labelNames: ["outcome"],
    }),
  };
}

declare module "fastify" {
  interface FastifyRequest {
    startedAt: bigint;
  }
}

/** Options of {@link metricsPlugin}. */
export interface MetricsPluginOptions {
  metrics: GatewayMetrics;
}

/** Times every request and serves nothing itself (`GET /metrics` is a route). */
export const metricsPlugin = appPlugin<MetricsPluginOptions>("diffda-metrics", async (app, options) => {
  app.decorateRequest("startedAt", 0n);
  app.addHook("onRequest", async (request: FastifyRequest) => {
    request.startedAt = process.hrtime.bigint();
  });
  app.addHook("onResponse", async (request: FastifyRequest, reply: FastifyReply) => {
    const seconds = Number(process.hrtime.bigint() - request.startedAt) / 1e9;
    options.metrics.httpDuration.observe(
      {
        method: request.method,
        route: request.is404 ? "unmatched" : (request.routeOptions.url ?? "unmatched"),
        status_code: String(reply.statusCode),
      },
      seconds,
    );
  });
});
