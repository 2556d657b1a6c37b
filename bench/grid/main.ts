/**
 * The `npm run bench:grid` process. The first Ctrl-C stops the run in order (the embedded gateway hands
 * its running tasks back; a re-run follows the same job); a second one exits at once.
 */
import { runGridCommand } from "./command.js";

const controller = new AbortController();
process.on("SIGINT", () => {
  if (controller.signal.aborted) process.exit(130);
  process.stderr.write("\nbench:grid: stopping (Ctrl-C again to exit at once)\n");
  controller.abort(new Error("interrupted"));
});
process.on("SIGTERM", () => controller.abort(new Error("terminated")));

const code = await runGridCommand(
  process.argv.slice(2),
  { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() },
  controller.signal,
);
process.exitCode = code;
// Keep-alive sockets of fetch must not hold the process open once the run is done.
setTimeout(() => process.exit(code), 200).unref();
