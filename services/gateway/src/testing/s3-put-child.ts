/**
 * A child process for the crash test: the gateway's artifact store opened from the gateway's own
 * configuration (ARTIFACT_STORE=s3 …) puts CHILD_PUT_BYTES random bytes, saying the digest first. The
 * test SIGKILLs it mid-upload and then lists the bucket.
 */
import { randomBytes } from "node:crypto";
import { sha256Hex } from "../blob-store.js";
import { loadGatewayEnv } from "../config.js";
import { openBlobStore } from "../open-blob-store.js";

const store = await openBlobStore(loadGatewayEnv(process.env));
const bytes = randomBytes(Number(process.env.CHILD_PUT_BYTES));
process.stdout.write(`putting ${sha256Hex(bytes)}\n`);
await store.put(bytes);
process.stdout.write("stored\n");
