/**
 * `Idempotency-Key` on every POST. The key is scoped to the principal; the request's fingerprint is a
 * SHA-256 over the principal, the route pattern, its parameters and query, and the canonical body (JSON
 * with sorted keys; raw bodies by their bytes).
 *
 * - no key: 400 `idempotency_key_missing` (checked before the body is validated);
 * - first use: the request runs; a 2xx/3xx answer is stored and replayed to every retry with the same
 *   key and fingerprint (same status, body and Location; `Idempotent-Replayed: true`);
 * - a retry while the first is still running: 409 `idempotency_in_flight`;
 * - the key again with another fingerprint: 422 `idempotency_mismatch`.
 *
 * A 4xx or 5xx answer is not stored: the record is released, so the client may fix the request and
 * retry under the same key. Refusals are deterministic or transient, and neither changed any state
 * (a handler that changes state and then fails would be a bug to fix, not to replay).
 */
import { createHash } from "node:crypto";
import type { FastifyReply, FastifyRequest } from "fastify";
import { ApiError, PROBLEM_CONTENT_TYPE } from "../errors.js";
import { canonicalJson } from "../orchestrator/planner.js";
import type { IdempotencyRepository } from "../store/index.js";
import { appPlugin } from "./plugin.js";
import "./auth.js";

/** Header a replayed response carries. */
export const REPLAY_HEADER = "idempotent-replayed";

/** What is stored for replay: the body, and the headers that belong to the answer (Location). */
interface Envelope {
  headers: Record<string, string>;
  body: unknown;
}

const KEY = /^[\x21-\x7e]{1,255}$/;

interface Pending {
  principal: string;
  key: string;
}

declare module "fastify" {
  interface FastifyRequest {
    /** Set while this request holds a new idempotency record. */
    idempotency: Pending | null;
  }
}

/** Options of {@link idempotencyPlugin}. */
export interface IdempotencyPluginOptions {
  repository: Pick<IdempotencyRepository, "begin" | "complete" | "release">;
}

/** The fingerprint of a request under a principal. */
function requestFingerprint(request: FastifyRequest, principal: string): string {
  const hash = createHash("sha256");
  const body = request.body;
  const bodyDigest = Buffer.isBuffer(body)
    ? `bytes:${createHash("sha256").update(body).digest("hex")}`
    : `json:${canonicalJson(body ?? null)}`;
  hash.update(
    canonicalJson([
      principal,
      request.method,
      request.routeOptions.url ?? request.url,
      request.params ?? {},
      request.query ?? {},
    ]),
  );
  hash.update("\n");
  hash.update(bodyDigest);
  return hash.digest("hex");
}

function principalOf(request: FastifyRequest): string {
  return request.principal?.id ?? "anonymous";
}

/** Installs the hooks. */
export const idempotencyPlugin = appPlugin<IdempotencyPluginOptions>(
  "diffda-idempotency",
  async (app, options) => {
    const { repository } = options;
    app.decorateRequest("idempotency", null);

    app.addHook("preValidation", async (request: FastifyRequest) => {
      if (request.method !== "POST" || request.is404) return;
      const key = request.headers["idempotency-key"];
      if (typeof key !== "string" || key.length === 0) {
        throw new ApiError("idempotency_key_missing", "POST needs an Idempotency-Key header", {
          errors: [{ field: "/headers/idempotency-key", message: "is required" }],
        });
      }
      if (!KEY.test(key)) {
        throw new ApiError(
          "validation_failed",
          "the Idempotency-Key must be 1–255 visible ASCII characters",
          {
            errors: [
              { field: "/headers/idempotency-key", message: "must be 1–255 visible ASCII characters" },
            ],
          },
        );
      }
    });

    app.addHook("preHandler", async (request: FastifyRequest, reply: FastifyReply) => {
      if (request.method !== "POST" || request.is404) return;
      const key = request.headers["idempotency-key"] as string;
      const principal = principalOf(request);
      const begun = await repository.begin(principal, key, requestFingerprint(request, principal));
      switch (begun.state) {
        case "new":
          request.idempotency = { principal, key };
          return;
        case "in_flight":
          throw new ApiError(
            "idempotency_in_flight",
            "a request with this Idempotency-Key is still being handled",
            {
              headers: { "retry-after": "1" },
            },
          );
        case "mismatch":
          throw new ApiError(
            "idempotency_mismatch",
            "this Idempotency-Key was used with a different request; use a new key for a new request",
          );
        case "completed": {
          const stored = begun.response.body as Envelope;
          reply.code(begun.response.status).header(REPLAY_HEADER, "true").headers(stored.headers);
          if (begun.response.status >= 400) reply.type(PROBLEM_CONTENT_TYPE);
          return reply.send(stored.body);
        }
      }
    });

    app.addHook("onSend", async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
      const pending = request.idempotency;
      if (pending === null) return payload;
      request.idempotency = null;
      try {
        if (reply.statusCode < 400 && typeof payload === "string") {
          const location = reply.getHeader("location");
          const envelope: Envelope = {
            headers: typeof location === "string" ? { location } : {},
            body: JSON.parse(payload),
          };
          await repository.complete(pending.principal, pending.key, {
            status: reply.statusCode,
            body: envelope,
          });
        } else {
          await repository.release(pending.principal, pending.key);
        }
      } catch (error) {
        // The record stays in flight until its lock lapses; the client's retry then runs afresh.
        request.log.error({ err: error }, "could not record the idempotent response");
      }
      return payload;
    });
  },
);
