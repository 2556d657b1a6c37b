/**
 * The shared-token check of a gRPC server, for deployments that terminate TLS elsewhere (a service mesh):
 * every call must carry `authorization: Bearer <token>` metadata. The comparison takes the same time
 * whatever the presented value, so that timing reveals nothing of the token.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { RpcError } from "./error.js";

/** The metadata key a token travels in (gRPC metadata keys are lower case). */
export const AUTHORIZATION_KEY = "authorization";

const BEARER = /^Bearer +(\S+) *$/i;

// Digests have a fixed length, so timingSafeEqual compares the whole of them whatever was presented.
function digest(text: string): Buffer {
  return createHash("sha256").update(text, "utf8").digest();
}

/** The metadata a client sends to prove it holds `token`. */
export function bearerMetadata(token: string): Record<string, string> {
  return { [AUTHORIZATION_KEY]: `Bearer ${token}` };
}

/**
 * A check of the `authorization` metadata of a call against `token`: undefined when the call may go on,
 * else the `invalid_token` error (UNAUTHENTICATED) to end it with. The message says whether the token was
 * missing or wrong, never what was expected.
 */
export function tokenCheck(token: string): (authorization: unknown) => RpcError | undefined {
  if (token.length === 0) throw new RangeError("the token must not be empty");
  const expected = digest(token);
  return (authorization) => {
    const presented = typeof authorization === "string" ? BEARER.exec(authorization)?.[1] : undefined;
    if (presented === undefined) {
      return new RpcError("invalid_token", "the call carries no `authorization: Bearer <token>` metadata");
    }
    if (!timingSafeEqual(digest(presented), expected)) {
      return new RpcError("invalid_token", "the call's bearer token is not the one this server accepts");
    }
    return undefined;
  };
}
