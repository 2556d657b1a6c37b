/** What every command gets: the output streams, the environment and a client for the gateway. */
import { createRestClient, type RestClient } from "../client/rest-client.js";

/** Where a command writes. */
export interface CliIo {
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  readonly stderr: NodeJS.WritableStream;
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** A command's context. */
export interface CommandContext {
  readonly io: CliIo;
  /** The gateway URL (`--url`, `$DIFFDA_URL`, default http://127.0.0.1:8080). */
  readonly url: string;
  /** A client for `url` with `$DIFFDA_API_KEY`. */
  client(url?: string): RestClient;
  /** Writes a line to stdout. */
  print(line?: string): void;
  /** Writes a line to stderr. */
  note(line: string): void;
  /** Aborted on Ctrl-C. */
  readonly signal: AbortSignal;
}

/** The default gateway URL. */
export const DEFAULT_URL = "http://127.0.0.1:8080";

/** Builds a context. */
export function commandContext(io: CliIo, url: string | undefined, signal: AbortSignal): CommandContext {
  const base = url ?? io.env.DIFFDA_URL ?? DEFAULT_URL;
  const apiKey = io.env.DIFFDA_API_KEY || undefined;
  return {
    io,
    url: base,
    signal,
    client: (other?: string) =>
      createRestClient({
        baseUrl: other ?? base,
        apiKey,
        onRetry: ({ attempt, delayMs, reason }) =>
          io.stderr.write(
            `diffda: ${reason}; retrying in ${(delayMs / 1000).toFixed(1)} s (attempt ${attempt + 1})\n`,
          ),
      }),
    print: (line = "") => void io.stdout.write(`${line}\n`),
    note: (line) => void io.stderr.write(`${line}\n`),
  };
}
