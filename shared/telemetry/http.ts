import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";

/** Options of {@link startMetricsServer}. */
export interface MetricsServerOptions {
  /** Registry served on `/metrics`. */
  readonly registry: Registry;
  /** Port to listen on; 0 picks a free one (tests). */
  readonly port: number;
  /** Address to bind; all interfaces when omitted. */
  readonly host?: string;
  /**
   * Answers `/healthz`: 200 when it returns true, 503 otherwise. Without it `/healthz` answers 200 while
   * the process runs (liveness).
   */
  readonly healthy?: () => boolean | Promise<boolean>;
  /**
   * Answers `/readyz`: 200 when it returns true, 503 otherwise; 404 without it. For readiness probes that
   * cannot speak the gRPC port's TLS (the kubelet's gRPC probe is plaintext only).
   */
  readonly ready?: () => boolean;
}

/** A running metrics server. */
export interface MetricsServer {
  /** The port actually bound. */
  readonly port: number;
  /** Stops listening and closes open connections. */
  close(): Promise<void>;
}

/**
 * Serves `GET /metrics` (Prometheus text format), `GET /healthz` and optionally `GET /readyz` on a small node:http server, apart
 * from the gRPC port so that scraping never competes with RPC traffic limits. Other paths answer 404.
 */
export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const { registry, healthy, ready } = options;
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
      return;
    }
    const answer = async () => {
      if (path === "/metrics") {
        const body = await registry.metrics();
        res.writeHead(200, { "content-type": registry.contentType }).end(req.method === "HEAD" ? "" : body);
      } else if (path === "/healthz") {
        const ok = healthy ? await healthy() : true;
        res.writeHead(ok ? 200 : 503, { "content-type": "text/plain" }).end(ok ? "ok\n" : "unhealthy\n");
      } else if (path === "/readyz" && ready) {
        const ok = ready();
        res.writeHead(ok ? 200 : 503, { "content-type": "text/plain" }).end(ok ? "ready\n" : "not ready\n");
      } else {
        res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
      }
    };
    answer().catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
      res.end(`${error instanceof Error ? error.message : String(error)}\n`);
    });
  });
  server.listen(options.port, options.host);
  await once(server, "listening");
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}
