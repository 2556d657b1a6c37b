/**
 * Connection ageing, which is how replicas a scale-out adds get calls: a compute service closes every
 * client connection after GRPC_MAX_CONNECTION_AGE_MS (HTTP/2 GOAWAY) while calls in flight on it may
 * finish, and the gateway's channel to a `dns:///` name (its real `createComputeClients`) then resolves
 * the name again and balances round-robin over every address it gets.
 *
 * The replicas are classifier processes (nothing to load, so they start fast) on real sockets. DNS is a
 * stand-in: this test process registers a resolver for the `dns` scheme that answers what a headless
 * Service's DNS would (the replicas' addresses), and only when the channel asks, as grpc-js's DNS resolver
 * does (it never polls). A replica added to the records can therefore get calls only through a
 * re-resolution, and a re-resolution only follows a connection ending.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type ChannelOptions, experimental } from "@grpc/grpc-js";
import {
  type ComputeClients,
  createComputeClients,
} from "../services/gateway/src/orchestrator/compute-clients.js";
import type { TrainUploadRequestSchema } from "../shared/gen/diffda/classifier/v1/classifier_pb.js";
import { metricValue, type ServiceProcess, startService } from "../shared/testing/service-process.js";
import { classifierSpec, labelledSet } from "./support/classes.js";
import { type Init, rpcError, TEST_LIMITS } from "./support/clients.js";

/** The records of the stand-in DNS and every time a channel asked for them. */
const dns = {
  ports: [] as number[],
  asked: 0,
  waiters: [] as (() => void)[],
  /** Resolves at the next time a channel asks for the records. */
  nextAsk(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  },
};

class HeadlessServiceDns implements experimental.Resolver {
  readonly #listener: experimental.ResolverListener;
  constructor(_target: experimental.GrpcUri, listener: experimental.ResolverListener, _: ChannelOptions) {
    this.#listener = listener;
  }
  static getDefaultAuthority(target: experimental.GrpcUri): string {
    return target.path;
  }
  #destroyed = false;
  updateResolution(): void {
    if (this.#destroyed) return;
    dns.asked++;
    const endpoints = dns.ports.map((port) => ({ addresses: [{ host: "127.0.0.1", port }] }));
    // A resolver answers asynchronously; `null`: no service config in DNS (the channel's own applies).
    // Never after destroy: an answer to a closed channel made grpc-js resolve and reconnect again and
    // again, which kept the test process busy after its suite had passed.
    setImmediate(() => {
      if (this.#destroyed) return;
      this.#listener({ ok: true, value: endpoints }, {}, null, "");
      for (const wake of dns.waiters.splice(0)) wake();
    });
  }
  destroy(): void {
    this.#destroyed = true;
  }
}
experimental.registerResolver("dns", HeadlessServiceDns);

const AGE = { GRPC_MAX_CONNECTION_AGE_MS: "1000", GRPC_MAX_CONNECTION_AGE_GRACE_MS: "120000" };

/** Evaluate calls a replica answered (probes are empty requests: INVALID_ARGUMENT at once). */
async function evaluateCalls(replica: ServiceProcess): Promise<number> {
  return metricValue(await replica.metrics(), "grpc_server_handled_total", { grpc_method: "Evaluate" }) ?? 0;
}

describe("connection ageing: new replicas behind a dns:/// name get calls", () => {
  const replicas: ServiceProcess[] = [];
  let clients: ComputeClients;

  before(async () => {
    replicas.push(await startService("classifier", AGE));
    dns.ports.push(replicas[0].grpcPort);
    clients = createComputeClients({
      finetuneAddress: "127.0.0.1:1",
      generationAddresses: ["127.0.0.1:1"],
      classifierAddress: "dns:///diffda-classifier:50053",
      limits: TEST_LIMITS,
      finetuneTimeoutMs: 60_000,
      generateTimeoutMs: 60_000,
      trainTimeoutMs: 120_000,
      evaluateTimeoutMs: 60_000,
    });
  });

  after(async () => {
    clients?.close();
    const codes = await Promise.all(replicas.map((r) => r.stop()));
    assert.deepEqual(
      codes,
      replicas.map(() => 0),
    );
  });

  async function probe(): Promise<void> {
    assert.equal((await rpcError(clients.classifier.evaluate({}))).code, "invalid_field");
  }

  // The timeout only bounds a failure (a replica never reached); nothing here measures time.
  const guard = { timeout: 180_000 };

  it(
    "a call in flight outlives its connection's age; a replica added meanwhile joins the rotation",
    guard,
    async () => {
      const real = await labelledSet(2, 1);
      const aged = { resolved: false };
      let added: Promise<void> | undefined;
      // An upload the test holds open (after its header) until the channel has re-resolved the name with
      // the second replica in the records: that connection has been aged out under the call by then.
      async function* upload(): AsyncGenerator<Init<typeof TrainUploadRequestSchema>> {
        yield {
          payload: {
            case: "header",
            value: {
              spec: classifierSpec("job-age", { epochs: 1, batchSize: 6, seed: 1n }),
              realCount: real.length,
              syntheticCount: 0,
            },
          },
        };
        added = (async () => {
          replicas.push(await startService("classifier", AGE));
          const asked = dns.asked;
          dns.ports.push(replicas[1].grpcPort);
          // Asked again after the records changed: only a connection ending makes the channel ask.
          while (dns.asked === asked) await dns.nextAsk();
          aged.resolved = true;
        })();
        await added;
        yield { payload: { case: "realChunk", value: { offset: 0, images: real } } };
      }
      let checkpoint: string | undefined;
      for await (const response of clients.classifier.trainUpload(upload())) {
        if (response.event.case === "result") checkpoint = response.event.value.checkpoint?.sha256;
      }
      await added;
      assert.ok(aged.resolved, "the channel re-resolved while the upload was open");
      assert.ok(checkpoint, "the upload finished on its aged connection");

      // The channel now knows both replicas: probes reach the new one, and then alternate.
      const [a, b] = replicas;
      while ((await evaluateCalls(b)) === 0) await probe();
      const before = [await evaluateCalls(a), await evaluateCalls(b)];
      for (let i = 0; i < 10; i++) await probe();
      const spread = [(await evaluateCalls(a)) - before[0], (await evaluateCalls(b)) - before[1]];
      assert.ok(
        spread.every((n) => n >= 3),
        `10 calls split ${spread.join(" / ")} between the replicas: round-robin`,
      );
    },
  );
});
