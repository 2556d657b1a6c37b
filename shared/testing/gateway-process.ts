import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { type LogLine, parseLogLine } from "./service-process.js";

/** The gateway started as its own process (`services/gateway/src/main.ts`). */
export interface GatewayProcess {
  readonly child: ChildProcess;
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** Every JSON line it printed so far. */
  readonly logs: LogLine[];
  /** Text it printed to stderr. */
  stderr(): string;
  /** Resolves with the exit code (null after a signal) once the process ended. */
  readonly exited: Promise<number | null>;
  /** SIGKILL: no drain, no lease handed back, as if the machine died. */
  kill(): Promise<void>;
  /** SIGTERM (drain), then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

const ROOT = new URL("../../", import.meta.url);

/** Starts a gateway with `env` over the inherited environment; resolves once it logged `gateway listening`. */
export async function startGatewayProcess(
  env: Record<string, string>,
  timeoutMs = 90_000,
): Promise<GatewayProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", "services/gateway/src/main.ts"], {
    cwd: ROOT,
    env: { ...process.env, HOST: "127.0.0.1", LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const logs: LogLine[] = [];
  let errText = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    errText += chunk.toString();
  });
  const exited = once(child, "exit").then(([code]) => code as number | null);
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () =>
        reject(
          new Error(`the gateway did not listen within ${timeoutMs} ms; stderr: ${errText.slice(-2000)}`),
        ),
      timeoutMs,
    );
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (text) => {
      const line = parseLogLine(text);
      logs.push(line);
      if (line.msg === "gateway listening" && typeof line.address === "string") {
        clearTimeout(timer);
        resolve(line.address);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`the gateway exited (${code}) before listening; stderr: ${errText.slice(-2000)}`));
    });
  });
  const running = () => child.exitCode === null && child.signalCode === null;
  return {
    child,
    url,
    logs,
    stderr: () => errText,
    exited,
    async kill() {
      if (running()) child.kill("SIGKILL");
      await exited;
    },
    async stop(graceMs = 10_000) {
      if (!running()) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}
