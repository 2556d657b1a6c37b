/**
 * Test helper (not exported by index.ts): serves one service on a loopback port and opens a client to it.
 * Used by this module's tests and usable by services' tests.
 */
import type { DescService } from "@bufbuild/protobuf";
import { type ClientOptions, createChannel, createClient, type RpcChannel } from "./client.js";
import type { MessageLimits } from "./limits.js";
import { createRpcServer, type RpcServer, type RpcServerOptions } from "./server.js";
import type { Client, ServiceImpl } from "./types.js";

/** A service served on 127.0.0.1 and a client of it. */
export interface Served<S extends DescService> {
  readonly server: RpcServer;
  readonly port: number;
  readonly address: string;
  readonly channel: RpcChannel;
  readonly client: Client<S>;
  /** Closes the channel and drains the server without grace. */
  close(): Promise<void>;
}

const DEFAULT_LIMITS: MessageLimits = { maxReceiveMessageBytes: 1 << 20, maxSendMessageBytes: 1 << 20 };

/** Serves `service` on an ephemeral loopback port, marks it ready, and connects a client. */
export async function serve<S extends DescService>(
  service: S,
  impl: ServiceImpl<S>,
  options: {
    server?: Partial<RpcServerOptions>;
    client?: Partial<ClientOptions<S>>;
    clientLimits?: MessageLimits;
    ready?: boolean;
  } = {},
): Promise<Served<S>> {
  const server = createRpcServer({ limits: DEFAULT_LIMITS, ...options.server });
  server.register(service, impl);
  const port = await server.listen({ host: "127.0.0.1", port: 0 });
  if (options.ready !== false) server.setReady();
  const address = `127.0.0.1:${port}`;
  const channel = createChannel({ address, limits: options.clientLimits ?? DEFAULT_LIMITS });
  const client = createClient(service, channel, { timeoutMs: 5_000, ...options.client });
  return {
    server,
    port,
    address,
    channel,
    client,
    async close() {
      channel.close();
      await server.drain(0);
    },
  };
}

/** Resolves after `ms` milliseconds. */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });
}

/** A promise with its resolve function, for tests that wait on events. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}
