/**
 * Standard Webhooks signatures (https://www.standardwebhooks.com): a message is signed with HMAC-SHA256
 * over `<webhook-id>.<webhook-timestamp>.<body>`, keyed by the base64-decoded part of a `whsec_…` secret,
 * and sent as `webhook-signature: v1,<base64>`. Receivers may see several space-separated signatures
 * (during a secret rotation); one that verifies is enough.
 */
import { createHmac, timingSafeEqual } from "node:crypto";

/** Prefix of a secret as handed to users. */
const SECRET_PREFIX = "whsec_";

/** Default tolerance between the timestamp and the receiver's clock, against replays. */
const DEFAULT_TOLERANCE_SECONDS = 300;

/** The HMAC key of a `whsec_<base64>` secret (the prefix is optional, as in other implementations). */
export function secretKey(secret: string): Buffer {
  const encoded = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) throw new TypeError("a webhook secret is whsec_<base64>");
  const key = Buffer.from(encoded, "base64");
  if (key.length < 24 || key.length > 64) throw new TypeError("a webhook secret holds 24 to 64 bytes");
  return key;
}

/** The `webhook-signature` value (`v1,<base64 HMAC>`) of one message. */
export function sign(secret: string, id: string, timestamp: number, body: string): string {
  return `v1,${hmac(secretKey(secret), id, timestamp, body).toString("base64")}`;
}

/** Why {@link verify} refused a message, or `ok`. */
export type VerifyResult =
  | { ok: true }
  | { ok: false; reason: "malformed_timestamp" | "timestamp_out_of_tolerance" | "no_matching_signature" };

/** Options of {@link verify}. */
export interface VerifyOptions {
  /** Largest |now − timestamp| accepted (default {@link DEFAULT_TOLERANCE_SECONDS}). */
  toleranceSeconds?: number;
  /** The receiver's clock in unix seconds (default: now). */
  nowSeconds?: number;
}

/**
 * Checks a message as a receiver would: the timestamp within tolerance, then any `v1,` signature of the
 * space-separated header equal to the expected one (constant-time compare; other versions are ignored).
 */
export function verify(
  secret: string,
  headers: { id: string; timestamp: string; signature: string },
  body: string,
  options: VerifyOptions = {},
): VerifyResult {
  if (!/^\d{1,12}$/.test(headers.timestamp)) return { ok: false, reason: "malformed_timestamp" };
  const timestamp = Number(headers.timestamp);
  const now = options.nowSeconds ?? Math.floor(Date.now() / 1000);
  const tolerance = options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  if (Math.abs(now - timestamp) > tolerance) return { ok: false, reason: "timestamp_out_of_tolerance" };
  const expected = hmac(secretKey(secret), headers.id, timestamp, body);
  for (const candidate of headers.signature.split(" ")) {
    const [version, encoded] = candidate.split(",", 2);
    if (version !== "v1" || encoded === undefined) continue;
    const presented = Buffer.from(encoded, "base64");
    // timingSafeEqual needs equal lengths; a length mismatch reveals nothing about the key.
    if (presented.length === expected.length && timingSafeEqual(presented, expected)) return { ok: true };
  }
  return { ok: false, reason: "no_matching_signature" };
}

function hmac(key: Buffer, id: string, timestamp: number, body: string): Buffer {
  return createHmac("sha256", key).update(`${id}.${timestamp}.${body}`).digest();
}
