/**
 * The `diffda` process: `node --import tsx cli/main.ts <command>` (or `npx diffda`, `npm run diffda --`).
 * The first Ctrl-C aborts the command (which stops what it started); a second one exits at once.
 */
import { runCli } from "./cli.js";

const controller = new AbortController();
process.on("SIGINT", () => {
  if (controller.signal.aborted) process.exit(130);
  process.stderr.write("\ndiffda: stopping (Ctrl-C again to exit at once)\n");
  controller.abort(new Error("interrupted"));
});
process.on("SIGTERM", () => controller.abort(new Error("terminated")));

const code = await runCli(
  process.argv.slice(2),
  { stdout: process.stdout, stderr: process.stderr, env: process.env },
  controller.signal,
);
process.exitCode = code;
// Keep-alive sockets of fetch or timers must not hold the process open once the command is done.
setTimeout(() => process.exit(code), 200).unref();
