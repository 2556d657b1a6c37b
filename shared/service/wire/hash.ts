import { createHash } from "node:crypto";

/** SHA-256 as 64 lowercase hex characters (the `sha256` fields of the contracts). */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** The form of a `sha256` field. */
export const SHA256_HEX = /^[0-9a-f]{64}$/;
