import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";

/** A log line of a service (pino JSON). */
export type LogLine = Record<string, unknown> & { msg?: string; event?: string; level?: string };

/** A line a process wrote to stdout: its pino JSON, or the text as `msg` when it is no JSON. */
export function parseLogLine(text: string): LogLine {
  try {
    return JSON.parse(text) as LogLine;
  } catch {
    return { msg: text };
  }
}

/** A service started as its own process. */
export interface ServiceProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly grpcPort: number;
  readonly metricsPort: number;
  readonly address: string;
  /** Every JSON line it printed so far. */
  readonly logs: LogLine[];
  /** Resolves with the first line (already printed or to come) that `match` accepts. */
  waitForLog(match: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** Resolves when health says SERVING (the `ready` log line). */
  ready(timeoutMs?: number): Promise<void>;
  /** Resolves with the exit code once the process ended. */
  readonly exited: Promise<number | null>;
  /** Text it printed to stderr. */
  stderr(): string;
  /** The Prometheus text of its /metrics. */
  metrics(): Promise<string>;
  /** SIGTERM, then SIGKILL after `graceMs` if it still runs; resolves with the exit code. */
  stop(graceMs?: number): Promise<number | null>;
}

const ROOT = new URL("../../", import.meta.url);

/**
 * Spawns `node --import tsx services/<name>/src/main.ts` with `env` (GRPC_PORT and METRICS_PORT default to 0
 * and GRPC_HOST to loopback) and resolves once its `listening` log line gave the bound ports.
 */
export async function startService(
  name: string,
  env: Record<string, string>,
  timeoutMs = 60_000,
): Promise<ServiceProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", `services/${name}/src/main.ts`], {
    cwd: ROOT,
    env: {
      ...process.env,
      GRPC_HOST: "127.0.0.1",
      GRPC_PORT: "0",
      METRICS_HOST: "127.0.0.1",
      METRICS_PORT: "0",
      LOG_LEVEL: "info",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const logs: LogLine[] = [];
  const waiters = new Set<{ match: (line: LogLine) => boolean; resolve: (line: LogLine) => void }>();
  let errText = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    errText += chunk.toString();
  });
  const exited = once(child, "exit").then(([code]) => code as number | null);
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (text) => {
    const line = parseLogLine(text);
    logs.push(line);
    for (const w of waiters) {
      if (w.match(line)) {
        waiters.delete(w);
        w.resolve(line);
      }
    }
  });
  const waitForLog = (match: (line: LogLine) => boolean, ms = timeoutMs): Promise<LogLine> => {
    const seen = logs.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const entry = { match, resolve };
      waiters.add(entry);
      const timer = setTimeout(() => {
        waiters.delete(entry);
        reject(
          new Error(
            `${name}: no matching log line within ${ms} ms; stderr: ${errText.slice(-2000)}; last logs: ${JSON.stringify(logs.slice(-5))}`,
          ),
        );
      }, ms);
      timer.unref();
      exited.then(() => {
        if (!waiters.has(entry)) return;
        waiters.delete(entry);
        clearTimeout(timer);
        reject(
          new Error(
            `${name} exited; stderr: ${errText.slice(-2000)}; last logs: ${JSON.stringify(logs.slice(-5))}`,
          ),
        );
      });
    });
  };
  const listening = await waitForLog((l) => l.event === "listening");
  const grpcPort = listening.grpc_port as number;
  const metricsPort = listening.metrics_port as number;
  return {
    name,
    child,
    grpcPort,
    metricsPort,
    address: `127.0.0.1:${grpcPort}`,
    logs,
    waitForLog,
    ready: async (ms) => {
      await waitForLog((l) => l.event === "ready", ms);
    },
    exited,
    stderr: () => errText,
    metrics: async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text(),
    async stop(graceMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** The value of a Prometheus sample `name{labels}` in `text` (labels given as `key="value"` pairs), or undefined. */
export function metricValue(
  text: string,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== "{" && rest[0] !== " ") continue;
    if (!Object.entries(labels).every(([k, v]) => rest.includes(`${k}="${v}"`))) continue;
    return Number(rest.slice(rest.lastIndexOf(" ") + 1));
  }
  return undefined;
}
