/**
 * A live test gateway for clients written in other languages (the Python client's tests): the stack of
 * {@link startComputeGateway} — a real gateway app and orchestrator over an in-memory store with fake
 * compute services — listening on a loopback port. It prints one JSON line
 * `{"url", "apiKey", "readOnlyKey"}` on stdout once it accepts requests, and stops when its stdin closes
 * or it gets SIGTERM/SIGINT, so a parent that dies cannot leave it running.
 *
 *   node --import tsx services/gateway/src/testing/serve-fake-compute.ts
 */
import { bearer } from "../test-support.js";
import { startComputeGateway } from "./compute-gateway.js";

async function main(): Promise<void> {
  // Webhooks to loopback receivers are allowed, so clients can check the signatures they get.
  const stack = await startComputeGateway({ webhooks: true });
  const admin = await bearer(stack.store, ["admin"]);
  // A key that may read but not submit: clients can check how a 403 reaches them.
  const reader = await bearer(stack.store, ["read"]);
  const url = await stack.gw.app.listen({ host: "127.0.0.1", port: 0 });

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await stack.close();
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  process.stdin.on("end", stop);
  process.stdin.on("close", stop);
  process.stdin.resume();

  process.stdout.write(`${JSON.stringify({ url, apiKey: admin.token, readOnlyKey: reader.token })}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`serve-fake-compute: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
