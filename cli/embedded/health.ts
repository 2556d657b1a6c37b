/**
 * Readiness of the embedded stack's processes: a compute service is ready when its grpc.health.v1 Check
 * for the whole server ("") answers SERVING (it stays NOT_SERVING until its models are loaded); the
 * gateway is ready when `GET /readyz` answers 200 (store open, migrations applied).
 */
import { createChannel, createClient, Health, ServingStatus } from "../../shared/rpc/index.js";

/** A readiness probe: resolves true when ready, false (or throws) when not yet. */
export type Probe = () => Promise<boolean>;

/** A probe of a gRPC server's health at `address`. */
export function grpcServing(address: string): Probe {
  return async () => {
    const channel = createChannel({
      address,
      limits: { maxReceiveMessageBytes: 1 << 20, maxSendMessageBytes: 1 << 20 },
    });
    try {
      const client = createClient(Health, channel, { timeoutMs: 2000 });
      const answer = await client.check({ service: "" });
      return answer.status === ServingStatus.SERVING;
    } finally {
      channel.close();
    }
  };
}

/** A probe of the gateway's `/readyz` at `baseUrl`. */
export function httpReady(baseUrl: string): Probe {
  return async () => {
    const response = await fetch(`${baseUrl.replace(/\/+$/, "")}/readyz`, {
      signal: AbortSignal.timeout(2000),
    });
    await response.body?.cancel();
    return response.status === 200;
  };
}

/** Options of {@link waitUntilReady}. */
export interface WaitOptions {
  readonly timeoutMs: number;
  /** Between two probes (default 250 ms). */
  readonly intervalMs?: number;
  /** Gives up early: e.g. the process exited. Resolves with a reason. */
  readonly giveUp?: Promise<string>;
  readonly signal?: AbortSignal;
}

/** Probes until ready; rejects with the last probe error on timeout, or with `giveUp`'s reason. */
export async function waitUntilReady(probe: Probe, options: WaitOptions): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  let lastError = "not ready";
  let stop: string | undefined;
  void options.giveUp?.then((reason) => {
    stop = reason;
  });
  for (;;) {
    if (stop !== undefined) throw new Error(stop);
    options.signal?.throwIfAborted();
    try {
      if (await probe()) return;
      lastError = "not ready";
    } catch (error) {
      lastError = (error as Error).message;
    }
    if (stop !== undefined) throw new Error(stop);
    if (Date.now() >= deadline)
      throw new Error(`not ready after ${Math.round(options.timeoutMs / 1000)} s (${lastError})`);
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 250));
  }
}
