/**
 * The processes of one chaos campaign: a gateway, the finetune service, two generation replicas and the
 * classifier, each its own process on loopback with fixed ports, so that a process SIGKILLed and started
 * again is found where it was (the gateway's gRPC channels and the REST clients just reconnect).
 */
import { setTimeout as sleep } from "node:timers/promises";
import { freePorts } from "../../cli/embedded/ports.js";
import { type GatewayProcess, startGatewayProcess } from "../../shared/testing/gateway-process.js";
import { type ServiceProcess, startService } from "../../shared/testing/service-process.js";
import { TINY, TINY_EDIT } from "../../shared/testing/tiny-models.js";

/** The processes a campaign may kill. */
export const TARGETS = ["gateway", "finetune", "generation-a", "generation-b", "classifier"] as const;
export type Target = (typeof TARGETS)[number];

/** Options of {@link startCluster}. */
export interface ClusterOptions {
  /** MODEL_DIR with the tiny models. */
  readonly modelDir: string;
  /** The store's environment (DIFFDA_DATA_DIR, or DATABASE_URL and DATABASE_SCHEMA). */
  readonly storeEnv: Record<string, string>;
  /** ARTIFACT_DIR of the gateway. */
  readonly artifactDir: string;
  readonly leaseMs: number;
}

/** A running cluster. */
export interface Cluster {
  /** `http://127.0.0.1:<port>` of the gateway (the same across restarts). */
  readonly url: string;
  /** SIGKILLs `target` and starts it again on the same ports; resolves once it serves again. */
  killAndRestart(target: Target): Promise<void>;
  /** SIGTERM everything (SIGKILL after a grace period). */
  stop(): Promise<void>;
}

type Running = { kind: "gateway"; process: GatewayProcess } | { kind: "service"; process: ServiceProcess };

/** Starts the five processes; resolves once the services are ready and the gateway listens. */
export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const [gatewayPort, ...ports] = await freePorts(1 + 2 * 4);
  const serviceEnv = { MODEL_DIR: options.modelDir, ORT_THREADS: "1" };
  const services: Record<Exclude<Target, "gateway">, { name: string; env: Record<string, string> }> = {
    finetune: { name: "finetune", env: serviceEnv },
    "generation-a": { name: "generation", env: serviceEnv },
    "generation-b": { name: "generation", env: serviceEnv },
    classifier: { name: "classifier", env: { ORT_THREADS: "1" } },
  };
  const portsOf = (target: Exclude<Target, "gateway">) => {
    const i = TARGETS.indexOf(target) - 1;
    return { GRPC_PORT: String(ports[2 * i]), METRICS_PORT: String(ports[2 * i + 1]) };
  };
  const addressOf = (target: Exclude<Target, "gateway">) => `127.0.0.1:${portsOf(target).GRPC_PORT}`;

  const startOne = async (target: Target): Promise<Running> => {
    if (target === "gateway") {
      const process = await startGatewayProcess({
        PORT: String(gatewayPort),
        ...options.storeEnv,
        ARTIFACT_DIR: options.artifactDir,
        FINETUNE_ADDRESS: addressOf("finetune"),
        GENERATION_ADDRESSES: `${addressOf("generation-a")},${addressOf("generation-b")}`,
        GENERATION_CONCURRENCY: "1",
        CLASSIFIER_ADDRESS: addressOf("classifier"),
        BASE_MODEL: TINY,
        INSTRUCT_MODEL: TINY_EDIT,
        TASK_LEASE_MS: String(options.leaseMs),
        SSE_POLL_MS: "100",
        UPLOAD_CHUNK_BYTES: "1024",
        DRAIN_GRACE_MS: "0",
      });
      return { kind: "gateway", process };
    }
    const { name, env } = services[target];
    const process = await startService(name, { ...env, ...portsOf(target) });
    await process.ready(120_000);
    return { kind: "service", process };
  };

  /** Starts `target`, retrying while its port is still held by the dead process's socket. */
  const start = async (target: Target): Promise<Running> => {
    let last: unknown;
    for (let attempt = 0; attempt < 8; attempt++) {
      try {
        return await startOne(target);
      } catch (error) {
        last = error;
        await sleep(500);
      }
    }
    throw new Error(`${target} did not start again: ${(last as Error).message}`);
  };

  const running = new Map<Target, Running>();
  const services4 = TARGETS.filter((t): t is Exclude<Target, "gateway"> => t !== "gateway");
  const started = await Promise.all(services4.map(async (t) => [t, await start(t)] as const));
  for (const [t, r] of started) running.set(t, r);
  running.set("gateway", await start("gateway"));

  const stopOne = async (r: Running) => {
    await r.process.stop(5_000);
  };

  return {
    url: `http://127.0.0.1:${gatewayPort}`,
    async killAndRestart(target) {
      const current = running.get(target);
      if (current?.kind === "gateway") await current.process.kill();
      else if (current) {
        current.process.child.kill("SIGKILL");
        await current.process.exited;
      }
      running.delete(target);
      running.set(target, await start(target));
    },
    async stop() {
      const gateway = running.get("gateway");
      if (gateway) await stopOne(gateway);
      await Promise.all([...running.entries()].filter(([t]) => t !== "gateway").map(([, r]) => stopOne(r)));
      running.clear();
    },
  };
}
