/**
 * The CLI's HTTP client for the gateway's REST API: JSON in and out, `Authorization: Bearer` from the
 * API key, an `Idempotency-Key` on every POST (one random UUID per logical request, the same on each of
 * its retries), and retries with backoff for what a retry can fix: the gateway unreachable or restarting
 * (connection errors, 502/503/504), rate limits (429) and a first copy still in flight (409
 * `idempotency_in_flight`), honouring `Retry-After`. Every other error becomes an {@link ApiError}
 * carrying the problem+json body.
 */
import { randomUUID } from "node:crypto";
import type { Problem } from "./types.js";

/** Options of {@link createRestClient}. */
export interface RestClientOptions {
  /** Base URL of the gateway, e.g. `http://127.0.0.1:8080`. */
  readonly baseUrl: string;
  /** API key (`dda_…`); unset: no Authorization header (the embedded gateway's loopback-open mode). */
  readonly apiKey?: string;
  /** Attempts per request, the first included (default 6). */
  readonly attempts?: number;
  /** First retry delay in ms, doubled per retry up to 8 s (default 250). */
  readonly retryDelayMs?: number;
  /** The fetch to use (tests). */
  readonly fetch?: typeof fetch;
  /** Called before each retry (for a status line). */
  readonly onRetry?: (info: { attempt: number; delayMs: number; reason: string }) => void;
}

/** One request. */
export interface RestRequest {
  readonly method: "GET" | "POST" | "DELETE";
  /** Path with query, e.g. `/v1/jobs?state=running`. */
  readonly path: string;
  /** A JSON body. */
  readonly json?: unknown;
  /** A raw body with its content type (uploads). */
  readonly body?: { readonly bytes: Uint8Array; readonly contentType: string };
  /** Extra headers. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Idempotency-Key to send (POSTs get a fresh UUID when unset). */
  readonly idempotencyKey?: string;
  /** Aborts the request and its retries. */
  readonly signal?: AbortSignal;
  /** Statuses that are answers rather than errors (default: any 2xx). */
  readonly accept?: (status: number) => boolean;
}

/** A failed request: the gateway's problem, or a transport failure after the last retry. */
export class ApiError extends Error {
  /** HTTP status, 0 when the gateway could not be reached. */
  readonly status: number;
  /** The problem's stable code (`not_found`, `invalid_job_spec` …), or `unreachable`. */
  readonly code: string;
  /** The problem+json body, when there was one. */
  readonly problem: Problem | undefined;

  constructor(status: number, code: string, message: string, problem?: Problem) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.problem = problem;
  }
}

/** A client bound to one gateway. */
export interface RestClient {
  readonly baseUrl: string;
  /** Sends `request`, retrying what can be retried; resolves with the (accepted) response. */
  send(request: RestRequest): Promise<Response>;
  /** Sends `request` and parses the JSON answer. */
  json<T>(request: RestRequest): Promise<T>;
}

const RETRY_STATUSES = new Set([502, 503, 504, 429]);
const MAX_DELAY_MS = 8000;

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(done, ms);
    function done() {
      signal?.removeEventListener("abort", abort);
      resolve();
    }
    function abort() {
      clearTimeout(timer);
      reject(signal?.reason);
    }
    signal?.addEventListener("abort", abort, { once: true });
  });

/** Seconds of a `Retry-After` header as ms, if it holds a number. */
function retryAfterMs(response: Response): number | undefined {
  const value = response.headers.get("retry-after");
  if (value === null || !/^\d+(\.\d+)?$/.test(value.trim())) return undefined;
  return Math.min(60_000, Number(value) * 1000);
}

async function readProblem(response: Response): Promise<Problem | undefined> {
  const text = await response.text().catch(() => "");
  try {
    const parsed = JSON.parse(text) as Problem;
    return typeof parsed === "object" && parsed !== null ? parsed : undefined;
  } catch {
    return text ? { status: response.status, detail: text.slice(0, 500) } : undefined;
  }
}

/** The message of a problem: its detail and every field issue. */
function describeProblem(problem: Problem | undefined, status: number): string {
  if (problem === undefined) return `HTTP ${status}`;
  const head = `${problem.title ?? `HTTP ${status}`}${problem.detail ? `: ${problem.detail}` : ""}`;
  const fields = (problem.errors ?? []).map((e) => `\n  ${e.field}: ${e.message}`).join("");
  return head + fields;
}

function transportReason(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (error as Error).message ?? String(error);
}

/** Makes a client for the gateway at `options.baseUrl`. */
export function createRestClient(options: RestClientOptions): RestClient {
  const baseUrl = options.baseUrl.replace(/\/+$/, "");
  const doFetch = options.fetch ?? fetch;
  const attempts = Math.max(1, options.attempts ?? 6);
  const firstDelay = options.retryDelayMs ?? 250;

  async function send(request: RestRequest): Promise<Response> {
    const headers: Record<string, string> = { accept: "application/json", ...request.headers };
    if (options.apiKey) headers.authorization = `Bearer ${options.apiKey}`;
    if (request.method === "POST") headers["idempotency-key"] = request.idempotencyKey ?? randomUUID();
    let body: Uint8Array | string | undefined;
    if (request.json !== undefined) {
      body = JSON.stringify(request.json);
      headers["content-type"] = "application/json";
    } else if (request.body !== undefined) {
      body = request.body.bytes;
      headers["content-type"] = request.body.contentType;
    }
    const accept = request.accept ?? ((status: number) => status >= 200 && status < 300);
    let delay = firstDelay;
    for (let attempt = 1; ; attempt++) {
      let response: Response;
      try {
        response = await doFetch(`${baseUrl}${request.path}`, {
          method: request.method,
          headers,
          body,
          signal: request.signal,
        });
      } catch (error) {
        if (request.signal?.aborted) throw error;
        if (attempt >= attempts) {
          throw new ApiError(0, "unreachable", `cannot reach ${baseUrl}: ${transportReason(error)}`);
        }
        options.onRetry?.({ attempt, delayMs: delay, reason: transportReason(error) });
        await sleep(delay, request.signal);
        delay = Math.min(MAX_DELAY_MS, delay * 2);
        continue;
      }
      if (accept(response.status)) return response;
      const problem = await readProblem(response);
      const code = problem?.code ?? `http_${response.status}`;
      const retryable =
        RETRY_STATUSES.has(response.status) || (response.status === 409 && code === "idempotency_in_flight");
      if (!retryable || attempt >= attempts) {
        throw new ApiError(response.status, code, describeProblem(problem, response.status), problem);
      }
      const wait = retryAfterMs(response) ?? delay;
      options.onRetry?.({ attempt, delayMs: wait, reason: `${response.status} ${code}` });
      await sleep(wait, request.signal);
      delay = Math.min(MAX_DELAY_MS, delay * 2);
    }
  }

  return {
    baseUrl,
    send,
    async json<T>(request: RestRequest): Promise<T> {
      const response = await send(request);
      return (await response.json()) as T;
    },
  };
}
