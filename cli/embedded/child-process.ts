/**
 * One supervised child process of the embedded stack: its stdout and stderr go line by line to a log
 * file (so the terminal stays readable), the last lines are kept for error messages, and `stop` asks it
 * to end (SIGTERM: the services drain) and kills it (SIGKILL) if it has not ended after a grace period.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, mkdirSync, type WriteStream } from "node:fs";
import { dirname } from "node:path";
import { createInterface } from "node:readline";

/** What to start. */
export interface ProcessSpec {
  /** Short name: log file name and line prefix. */
  readonly name: string;
  /** Executable (default: this Node binary). */
  readonly command?: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
  /** Log file (appended to). */
  readonly logFile: string;
}

/** How a process ended. */
interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** A started process. */
export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  /** Resolves when the process has exited and its output is flushed to the log. */
  readonly exited: Promise<ExitStatus>;
  /** Whether it has exited. */
  readonly running: boolean;
  /** The last lines it wrote (stdout and stderr). */
  tail(lines?: number): string[];
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when it has exited. */
  stop(graceMs: number): Promise<ExitStatus & { killed: boolean }>;
  /** Registers a callback for each output line. */
  onLine(listener: (line: string) => void): void;
}

const TAIL = 200;

/** Starts `spec`. */
export function startProcess(spec: ProcessSpec): ManagedProcess {
  mkdirSync(dirname(spec.logFile), { recursive: true });
  const log: WriteStream = createWriteStream(spec.logFile, { flags: "a" });
  log.write(
    `--- ${new Date().toISOString()} starting ${spec.name}: ${[spec.command ?? "node", ...spec.args].join(" ")}\n`,
  );
  const child: ChildProcess = spawn(spec.command ?? process.execPath, [...spec.args], {
    cwd: spec.cwd,
    env: spec.env as NodeJS.ProcessEnv,
    stdio: ["ignore", "pipe", "pipe"],
    // Its own process group: Ctrl-C reaches only the supervisor, which stops the stack in order.
    detached: true,
  });
  const lines: string[] = [];
  const listeners: ((line: string) => void)[] = [];
  let running = true;
  let spawnError: Error | undefined;
  const record = (line: string) => {
    lines.push(line);
    if (lines.length > TAIL) lines.shift();
    log.write(`${line}\n`);
    for (const listener of listeners) listener(line);
  };
  const streams = [child.stdout, child.stderr].filter((s) => s !== null);
  const drained = streams.map(
    (stream) =>
      new Promise<void>((resolve) => {
        const reader = createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY });
        reader.on("line", record);
        reader.on("close", resolve);
      }),
  );
  const exited = new Promise<ExitStatus>((resolve) => {
    child.once("error", (error) => {
      spawnError = error;
      record(`[diffda] could not start ${spec.name}: ${error.message}`);
    });
    child.once("close", async (code, signal) => {
      running = false;
      await Promise.all(drained);
      const status = { code: spawnError ? (code ?? 127) : code, signal };
      log.end(
        `--- ${new Date().toISOString()} ${spec.name} exited (code ${status.code}, signal ${signal})\n`,
        () => resolve(status),
      );
    });
  });
  return {
    name: spec.name,
    pid: child.pid ?? -1,
    logFile: spec.logFile,
    exited,
    get running() {
      return running;
    },
    tail: (n = 20) => lines.slice(-n),
    onLine: (listener) => void listeners.push(listener),
    async stop(graceMs) {
      if (!running) return { ...(await exited), killed: false };
      child.kill("SIGTERM");
      let killed = false;
      const timer = setTimeout(() => {
        if (running) {
          killed = true;
          child.kill("SIGKILL");
        }
      }, graceMs);
      const status = await exited;
      clearTimeout(timer);
      return { ...status, killed };
    },
  };
}
