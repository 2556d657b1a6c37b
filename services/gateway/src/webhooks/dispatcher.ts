/**
 * Sends webhook deliveries. Each gateway replica runs one dispatcher; they share the work through the
 * store's leases (SKIP LOCKED), so each attempt is made by exactly one replica. A replica that dies or hangs
 * mid-request lets its lease expire and another replica makes the attempt again: delivery is at least
 * once, with the same `webhook-id`, which receivers deduplicate on (Standard Webhooks). An attempt succeeds
 * on any 2xx answer; anything else (another status, a timeout, a refused connection, a forbidden address)
 * is retried with exponential backoff and full jitter until the retry window closes, then fails for good.
 */
import { randomUUID } from "node:crypto";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import type { LookupFunction } from "node:net";
import { hostname } from "node:os";
import type { Counter } from "prom-client";
import type { Logger } from "../../../../shared/telemetry/index.js";
import type { LeasedDelivery, WebhookRepository } from "../store/index.js";
import { type DestinationPolicy, destinationProblem, type Resolver, safeLookup } from "./destination.js";
import { sign } from "./signature.js";

/** Backoff of failed attempts: the n-th failure waits a uniform random time in [0, min(cap, base·2^(n−1))]. */
export interface WebhookBackoff {
  baseMs: number;
  capMs: number;
}

/** The standard schedule: 5 s doubling to 10 min. */
const DEFAULT_WEBHOOK_BACKOFF: WebhookBackoff = { baseMs: 5_000, capMs: 600_000 };

/** What the dispatcher uses. */
export interface DispatcherDeps {
  webhooks: Pick<WebhookRepository, "lease" | "recordSuccess" | "recordFailure">;
  metrics?: { webhookDeliveries: Pick<Counter<"outcome">, "inc"> };
  logger?: Pick<Logger, "info" | "warn" | "error">;
}

/** Tunables of the dispatcher. */
export interface DispatcherOptions {
  /** Which destinations may be called (checked again at every attempt). */
  destinations: DestinationPolicy;
  /** Lease owner name; default host:pid:random, unique per dispatcher. */
  owner?: string;
  /** An attempt with no complete answer after this long failed. Default 10 s. */
  timeoutMs?: number;
  /** Failures are retried until this long after the delivery was created. Default 24 h. */
  retryForMs?: number;
  backoff?: WebhookBackoff;
  /** Sleep between polls when nothing was due. Default 1 s. */
  pollMs?: number;
  /** Deliveries leased and in flight at once. Default 8. */
  concurrency?: number;
  /** Lease length; longer than the timeout so that a live attempt never loses its lease. Default timeout + 5 s. */
  leaseMs?: number;
  /** Random source of the jitter (tests). */
  random?: () => number;
  /** Name resolution (tests); default the system's, as `dns.lookup`. */
  resolve?: Resolver;
}

/** How one attempt ended. */
type AttemptResult = { ok: true; status: number } | { ok: false; status: number | null; error: string };

/** The webhook sender of one gateway replica. */
export class WebhookDispatcher {
  readonly owner: string;
  readonly #deps: DispatcherDeps;
  readonly #timeoutMs: number;
  readonly #retryForMs: number;
  readonly #backoff: WebhookBackoff;
  readonly #pollMs: number;
  readonly #concurrency: number;
  readonly #leaseMs: number;
  readonly #random: () => number;
  readonly #lookup: LookupFunction;
  readonly #destinations: DestinationPolicy;
  readonly #inFlight = new Map<string, { done: Promise<void>; abort: AbortController }>();
  #loop: Promise<void> | undefined;
  #running = false;
  #wake: (() => void) | undefined;

  constructor(deps: DispatcherDeps, options: DispatcherOptions) {
    this.#deps = deps;
    this.#destinations = options.destinations;
    this.owner = options.owner ?? `${hostname()}:${process.pid}:webhooks:${randomUUID().slice(0, 8)}`;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#retryForMs = options.retryForMs ?? 86_400_000;
    this.#backoff = options.backoff ?? DEFAULT_WEBHOOK_BACKOFF;
    this.#pollMs = options.pollMs ?? 1_000;
    this.#concurrency = options.concurrency ?? 8;
    this.#leaseMs = options.leaseMs ?? this.#timeoutMs + 5_000;
    this.#random = options.random ?? Math.random;
    this.#lookup = safeLookup(options.destinations, options.resolve);
  }

  /** Starts polling for due deliveries. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#loop = this.#run();
  }

  /**
   * Stops polling. Attempts in flight get `graceMs` to finish; the rest are abandoned unsettled, and
   * their leases expire so that another replica (or this one, restarted) makes them again.
   */
  async stop(graceMs = 0): Promise<void> {
    this.#running = false;
    this.#wake?.();
    await this.#loop; // no lease is taken after this
    this.#loop = undefined;
    const pending = [...this.#inFlight.values()];
    if (pending.length > 0 && graceMs > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.all(pending.map((p) => p.done)),
        new Promise((resolve) => {
          timer = setTimeout(resolve, graceMs);
        }),
      ]);
      clearTimeout(timer);
    }
    for (const attempt of this.#inFlight.values()) attempt.abort.abort(new Error("dispatcher stopped"));
    await Promise.all([...this.#inFlight.values()].map((p) => p.done));
  }

  /** Leases what is due, up to the free concurrency, and starts those attempts. Returns how many. */
  async poll(): Promise<number> {
    const free = this.#concurrency - this.#inFlight.size;
    if (free <= 0) return 0;
    const leased = await this.#deps.webhooks.lease(this.owner, free, this.#leaseMs);
    for (const delivery of leased) {
      const abort = new AbortController();
      const done = this.#deliver(delivery, abort.signal)
        .catch((error: unknown) =>
          this.#deps.logger?.error(
            { err: error, deliveryId: delivery.delivery.id },
            "webhook attempt crashed",
          ),
        )
        .finally(() => {
          this.#inFlight.delete(delivery.delivery.id);
          this.#wake?.();
        });
      this.#inFlight.set(delivery.delivery.id, { done, abort });
    }
    return leased.length;
  }

  async #run(): Promise<void> {
    while (this.#running) {
      let leased = 0;
      try {
        leased = await this.poll();
      } catch (error) {
        // The store is unreachable or closing: try again at the next poll.
        this.#deps.logger?.warn({ err: error }, "webhook lease failed");
      }
      if (!this.#running) break;
      if (leased > 0 && this.#inFlight.size < this.#concurrency) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.#pollMs);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = undefined;
    }
  }

  async #deliver(leased: LeasedDelivery, signal: AbortSignal): Promise<void> {
    const { delivery, lease } = leased;
    const result = await this.#attempt(leased, signal);
    if (signal.aborted) return; // stopped: the lease expires and the attempt is made again
    const log = {
      deliveryId: delivery.id,
      jobId: delivery.jobId,
      event: delivery.eventType,
      attempt: lease.attempt,
    };
    if (result.ok) {
      if (await this.#deps.webhooks.recordSuccess(lease, result.status)) {
        this.#deps.metrics?.webhookDeliveries.inc({ outcome: "succeeded" });
      } else {
        this.#deps.logger?.warn(log, "webhook delivered after its lease was lost");
      }
      return;
    }
    const final = destinationProblem(leased.url, this.#destinations) !== undefined;
    const outcome = await this.#deps.webhooks.recordFailure(lease, {
      status: result.status,
      error: result.error,
      retryDelayMs: final ? 0 : this.#delayMs(lease.attempt),
      retryForMs: final ? -1 : this.#retryForMs,
    });
    if (outcome.outcome === "lease_lost") return;
    const label = outcome.outcome === "failed" ? "failed" : "retried";
    this.#deps.metrics?.webhookDeliveries.inc({ outcome: label });
    this.#deps.logger?.warn(
      { ...log, status: result.status, error: result.error, outcome: label },
      "webhook attempt failed",
    );
  }

  /** Full jitter: uniform in [0, min(cap, base·2^(attempt−1))]. */
  #delayMs(attempt: number): number {
    const ceiling = Math.min(this.#backoff.capMs, this.#backoff.baseMs * 2 ** Math.min(attempt - 1, 40));
    return Math.floor(this.#random() * ceiling);
  }

  /** One POST: the body as stored, signed with the owner's current secret. */
  async #attempt(leased: LeasedDelivery, signal: AbortSignal): Promise<AttemptResult> {
    const problem = destinationProblem(leased.url, this.#destinations);
    if (problem !== undefined) return { ok: false, status: null, error: `the URL ${problem}` };
    if (leased.secret === null)
      return { ok: false, status: null, error: "the job's key has no webhook secret" };
    const body = JSON.stringify(leased.delivery.payload);
    const timestamp = Math.floor(Date.now() / 1000);
    const headers = {
      "content-type": "application/json",
      "user-agent": "diffda-webhooks/1",
      "webhook-id": leased.delivery.id,
      "webhook-timestamp": String(timestamp),
      "webhook-signature": sign(leased.secret, leased.delivery.id, timestamp, body),
    };
    const url = new URL(leased.url);
    const send = url.protocol === "https:" ? httpsRequest : httpRequest;
    return new Promise<AttemptResult>((resolve) => {
      const timeout = AbortSignal.timeout(this.#timeoutMs);
      const req = send(url, {
        method: "POST",
        headers: { ...headers, "content-length": Buffer.byteLength(body) },
        // A fresh connection per attempt, resolved and checked by safeLookup: no pooled socket outlives
        // the check, and nothing keeps a stopping process alive.
        agent: false,
        lookup: this.#lookup,
        signal: AbortSignal.any([signal, timeout]),
      });
      req.on("response", (res) => {
        res.resume(); // the answer's body is not read, only drained
        res.on("end", () => {
          const status = res.statusCode ?? 0;
          resolve(
            status >= 200 && status < 300
              ? { ok: true, status }
              : { ok: false, status, error: `HTTP ${status}` },
          );
        });
        res.on("error", (error) =>
          resolve({ ok: false, status: res.statusCode ?? null, error: error.message }),
        );
      });
      req.on("error", (error: Error & { code?: string }) => {
        let message = error.code ? `${error.code}: ${error.message}` : error.message;
        if (timeout.aborted) message = `no answer within ${this.#timeoutMs} ms`;
        resolve({ ok: false, status: null, error: message });
      });
      req.end(body);
    });
  }
}
