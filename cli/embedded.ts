/**
 * The embedded runner (`diffda up`): the gateway and the three compute services as child processes on
 * loopback — `node --import tsx services/<name>/src/main.ts` each — with PGlite and the artifact store
 * under the data dir (default `.data/`), the bundled model kit (default `models/`), free ports unless
 * given, logs in `.data/logs/<name>.log`, and an orderly stop (gateway first, then the services; SIGTERM,
 * SIGKILL after a grace). Every variable a process reads can still be set in the environment; the
 * runner only forces what wires the processes together (hosts, ports, addresses, directories).
 */
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { ProcessSpec } from "./embedded/child-process.js";
import { grpcServing, httpReady } from "./embedded/health.js";
import { freePorts } from "./embedded/ports.js";
import { type RunningStack, type StackUnit, startStack } from "./embedded/stack.js";

/** The repository root (where `services/` and `models/` live). */
export const REPO_ROOT = fileURLToPath(new URL("..", import.meta.url));

/** The bundled model kit's text-to-image model id (a folder of `models/`). */
export const DEFAULT_BASE_MODEL = "diffda-kit-v1";
/** The bundled instruction-edit model id. */
export const DEFAULT_INSTRUCT_MODEL = "diffda-kit-v1-edit";

/** The compute services, in start order. */
export const COMPUTE_SERVICES = ["finetune", "generation", "classifier"] as const;

/** Options of {@link startEmbedded}. */
export interface EmbeddedOptions {
  /** Repository root (default {@link REPO_ROOT}). */
  readonly root?: string;
  /** PGlite, artifacts and logs go here (default `<cwd>/.data`). */
  readonly dataDir?: string;
  /** The model kit: a folder of model folders (default `<root>/models`, or `$MODEL_DIR`). */
  readonly modelDir?: string;
  /** Text-to-image model id (default `$BASE_MODEL`, else {@link DEFAULT_BASE_MODEL}). */
  readonly baseModel?: string;
  /** Instruction-edit model id (default `$INSTRUCT_MODEL`, else {@link DEFAULT_INSTRUCT_MODEL}). */
  readonly instructModel?: string;
  /** Gateway HTTP port (default: a free one). */
  readonly port?: number;
  /** gRPC ports of the services (default: free ones). */
  readonly servicePorts?: Partial<Record<(typeof COMPUTE_SERVICES)[number], number>>;
  /** Generation replicas (default 1). */
  readonly generationReplicas?: number;
  /** The environment the processes inherit (default process.env). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly readyTimeoutMs?: number;
  readonly graceMs?: number;
  readonly onStatus?: (line: string) => void;
  readonly signal?: AbortSignal;
}

/** A running embedded stack. */
export interface EmbeddedStack extends RunningStack {
  /** The gateway's base URL. */
  readonly url: string;
  readonly dataDir: string;
  readonly logDir: string;
}

const HOST = "127.0.0.1";

/** The processes of the embedded stack (not started). */
export async function embeddedUnits(
  options: EmbeddedOptions = {},
): Promise<{ units: StackUnit[]; url: string; dataDir: string; logDir: string }> {
  const root = resolve(options.root ?? REPO_ROOT);
  const env = options.env ?? process.env;
  const dataDir = resolve(options.dataDir ?? ".data");
  const logDir = join(dataDir, "logs");
  const modelDir = resolve(options.modelDir ?? env.MODEL_DIR ?? join(root, "models"));
  const replicas = Math.max(1, options.generationReplicas ?? 1);
  const wanted = 1 + 2 + replicas;
  const free = await freePorts(wanted, HOST);
  let next = 0;
  const take = (given: number | undefined) => (given !== undefined && given > 0 ? given : free[next++]);
  const gatewayPort = take(options.port);
  const finetunePort = take(options.servicePorts?.finetune);
  const classifierPort = take(options.servicePorts?.classifier);
  const generationPorts = Array.from({ length: replicas }, (_, i) =>
    take(i === 0 ? options.servicePorts?.generation : undefined),
  );

  const entry = (name: string) => {
    const path = join(root, "services", name, "src", "main.ts");
    if (!existsSync(path))
      throw new Error(`${path} does not exist: the ${name} service is not in this checkout`);
    return path;
  };
  const spec = (name: string, service: string, own: Record<string, string>): ProcessSpec => ({
    name,
    args: ["--import", "tsx", entry(service)],
    cwd: root,
    env: { ...env, ...own },
    logFile: join(logDir, `${name}.log`),
  });
  const serviceEnv = (port: number, withModels: boolean): Record<string, string> => ({
    GRPC_HOST: HOST,
    GRPC_PORT: String(port),
    METRICS_HOST: HOST,
    METRICS_PORT: "0",
    DRAIN_GRACE_MS: env.DRAIN_GRACE_MS ?? "5000",
    ...(withModels ? { MODEL_DIR: modelDir } : {}),
  });

  const units: StackUnit[] = [
    {
      spec: spec("finetune", "finetune", serviceEnv(finetunePort, true)),
      probe: grpcServing(`${HOST}:${finetunePort}`),
      describe: `${HOST}:${finetunePort}`,
    },
    ...generationPorts.map(
      (port, i): StackUnit => ({
        spec: spec(
          replicas === 1 ? "generation" : `generation-${i + 1}`,
          "generation",
          serviceEnv(port, true),
        ),
        probe: grpcServing(`${HOST}:${port}`),
        describe: `${HOST}:${port}`,
      }),
    ),
    {
      spec: spec("classifier", "classifier", serviceEnv(classifierPort, false)),
      probe: grpcServing(`${HOST}:${classifierPort}`),
      describe: `${HOST}:${classifierPort}`,
    },
  ];
  const url = `http://${HOST}:${gatewayPort}`;
  units.push({
    spec: spec("gateway", "gateway", {
      HOST,
      PORT: String(gatewayPort),
      AUTH_MODE: "loopback-open",
      DIFFDA_DATA_DIR: dataDir,
      ARTIFACT_DIR: join(dataDir, "artifacts"),
      FINETUNE_ADDRESS: `${HOST}:${finetunePort}`,
      GENERATION_ADDRESSES: generationPorts.map((p) => `${HOST}:${p}`).join(","),
      CLASSIFIER_ADDRESS: `${HOST}:${classifierPort}`,
      BASE_MODEL: options.baseModel ?? env.BASE_MODEL ?? DEFAULT_BASE_MODEL,
      INSTRUCT_MODEL: options.instructModel ?? env.INSTRUCT_MODEL ?? DEFAULT_INSTRUCT_MODEL,
      DRAIN_GRACE_MS: env.DRAIN_GRACE_MS ?? "3000",
    }),
    probe: httpReady(url),
    tier: 1,
    describe: url,
  });
  return { units, url, dataDir, logDir };
}

/** Starts the embedded stack and waits until every process is ready. */
export async function startEmbedded(options: EmbeddedOptions = {}): Promise<EmbeddedStack> {
  const { units, url, dataDir, logDir } = await embeddedUnits(options);
  options.onStatus?.(`starting ${units.map((u) => u.spec.name).join(", ")} (logs in ${logDir})`);
  const stack = await startStack(units, {
    readyTimeoutMs: options.readyTimeoutMs,
    graceMs: options.graceMs,
    onStatus: options.onStatus,
    signal: options.signal,
  });
  return { ...stack, url, dataDir, logDir };
}
