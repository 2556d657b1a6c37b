/**
 * Authentication, scopes and rate limits. A route that declares `config.scope` needs
 * `Authorization: Bearer dda_…` with a key holding that scope (or `admin`); the key is verified by the
 * store (hashed secret, constant-time compare, revocation) on every request, so a revoked key stops
 * working at once. Each key's requests then pass its token bucket (429 with Retry-After), kept in the
 * job store so that the limit holds across gateway replicas.
 *
 * Failed authentications back off per client address (auth-failures.ts): past a few free failures a
 * minute, the address is closed for 1 s, 2 s, 4 s … and answered 429 `auth_throttled` without its key
 * being checked.
 *
 * Embedded mode (`loopback-open`): a request that carries no Authorization header and comes from a
 * loopback address acts as the local admin. It is decided per connection, from the socket's peer
 * address (never a forwarded header), so a gateway bound to all interfaces still demands keys from
 * every other machine.
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import { ApiError } from "../errors.js";
import type { ApiKeyRepository, RateLimitRepository } from "../store/index.js";
import type { AuthFailureThrottle } from "./auth-failures.js";
import { appPlugin } from "./plugin.js";
import { rateLimitHeaders } from "./rate-limit-headers.js";
import "./route-config.js";

/** Who is calling. */
export interface Principal {
  /** The API key id, or "local" in embedded mode. */
  id: string;
  /** The key id to record as owner; null for the local principal. */
  apiKeyId: string | null;
  scopes: readonly string[];
  /** Sees every job and dataset (admin keys and the local principal). */
  admin: boolean;
}

declare module "fastify" {
  interface FastifyRequest {
    /** Set by the auth plugin on routes with a scope. */
    principal: Principal;
  }
}

/** Takes a request's token from a key's bucket: the store's {@link RateLimitRepository}. */
export type RateLimiter = Pick<RateLimitRepository, "take">;

/** Options of {@link authPlugin}. */
export interface AuthOptions {
  apiKeys: Pick<ApiKeyRepository, "verify">;
  mode: "required" | "loopback-open";
  limiter: RateLimiter;
  /** Backoff for repeated failures per client address. */
  failures: AuthFailureThrottle;
}

/** The principal of embedded mode. */
const LOCAL_PRINCIPAL: Principal = Object.freeze({
  id: "local",
  apiKeyId: null,
  scopes: Object.freeze(["admin", "submit", "read"]),
  admin: true,
});

const BEARER = /^Bearer +(\S+) *$/i;

/** Whether a socket peer address is this machine. */
function isLoopbackAddress(address: string | undefined): boolean {
  if (address === undefined) return false;
  const bare = address.startsWith("::ffff:") ? address.slice(7) : address;
  return bare === "::1" || /^127\.\d+\.\d+\.\d+$/.test(bare);
}

function unauthorized(detail: string): ApiError {
  return new ApiError("unauthorized", detail, { headers: { "www-authenticate": 'Bearer realm="diffda"' } });
}

/** Installs the onRequest hook that authenticates, rate-limits and checks scopes. */
export const authPlugin = appPlugin<AuthOptions>("diffda-auth", async (app, options) => {
  app.decorateRequest("principal", null as unknown as Principal);
  app.addHook("onRequest", async (request: FastifyRequest, reply: FastifyReply) => {
    const scope = request.routeOptions.config.scope;
    if (scope === undefined) return;
    const header = request.headers.authorization;
    if (header === undefined) {
      if (options.mode === "loopback-open" && isLoopbackAddress(request.socket.remoteAddress)) {
        request.principal = LOCAL_PRINCIPAL;
        return;
      }
      throw unauthorized("this route needs an API key: Authorization: Bearer dda_…");
    }
    // request.ip is the socket's peer unless fastify's trustProxy is configured.
    const throttle = options.failures.check(request.ip);
    if (throttle.blocked) {
      throw new ApiError("auth_throttled", "too many failed authentications from this address", {
        headers: { "retry-after": String(throttle.retryAfterSeconds) },
      });
    }
    const token = BEARER.exec(header)?.[1];
    const key = token === undefined ? undefined : await options.apiKeys.verify(token);
    if (key === undefined) {
      options.failures.fail(request.ip);
      throw unauthorized(
        token === undefined
          ? "the Authorization header is not `Bearer <token>`"
          : "the API key is unknown, malformed or revoked",
      );
    }
    const principal: Principal = {
      id: key.id,
      apiKeyId: key.id,
      scopes: key.scopes,
      admin: key.scopes.includes("admin"),
    };
    request.principal = principal;
    if (key.rateLimitPerMinute !== null) {
      const taken = await options.limiter.take(key.id, key.rateLimitPerMinute);
      const headers = rateLimitHeaders(key.rateLimitPerMinute, taken);
      if (!taken.ok) {
        throw new ApiError("rate_limited", `this key allows ${key.rateLimitPerMinute} requests per minute`, {
          headers: { ...headers, "retry-after": String(taken.retryAfterSeconds) },
        });
      }
      reply.headers(headers);
    }
    if (!principal.admin && !principal.scopes.includes(scope)) {
      throw new ApiError("forbidden", `this route needs the ${scope} scope`);
    }
  });
});

/** Whether `principal` may see a row owned by `apiKeyId`. */
export function canSee(principal: Principal, apiKeyId: string | null): boolean {
  return principal.admin || apiKeyId === principal.apiKeyId;
}
