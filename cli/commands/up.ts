/**
 * `diffda up`: the embedded stack in the foreground until Ctrl-C (or until a process dies), then an
 * orderly stop. Also the building block of `demo`.
 */
import { type EmbeddedOptions, type EmbeddedStack, startEmbedded } from "../embedded.js";
import type { CommandContext } from "./context.js";

/** Starts the stack, printing progress to stderr. */
export async function bringUp(ctx: CommandContext, options: EmbeddedOptions): Promise<EmbeddedStack> {
  const started = Date.now();
  const stack = await startEmbedded({
    ...options,
    onStatus: (line) => ctx.note(`diffda: ${line}`),
    signal: ctx.signal,
  });
  ctx.note(`diffda: up in ${((Date.now() - started) / 1000).toFixed(1)} s — gateway ${stack.url}`);
  return stack;
}

/** Stops the stack, printing how each process ended. */
export async function bringDown(ctx: CommandContext, stack: EmbeddedStack): Promise<boolean> {
  ctx.note("diffda: stopping");
  const reports = await stack.stop();
  let clean = true;
  for (const r of reports) {
    const how = r.killed
      ? "killed after the grace period"
      : r.signal
        ? `signal ${r.signal}`
        : `exit ${r.code}`;
    if (r.killed || (r.code !== 0 && r.code !== null)) clean = false;
    ctx.note(`diffda: ${r.name.padEnd(11)} ${how}`);
  }
  return clean;
}

/** `diffda up`. */
export async function upCommand(ctx: CommandContext, options: EmbeddedOptions): Promise<number> {
  const stack = await bringUp(ctx, options);
  ctx.print(`gateway: ${stack.url}   (DIFFDA_URL=${stack.url} diffda submit …)`);
  ctx.print("Ctrl-C stops everything.");
  const stopped = new Promise<string>((resolve) => {
    if (ctx.signal.aborted) resolve("interrupted");
    ctx.signal.addEventListener("abort", () => resolve("interrupted"), { once: true });
  });
  const reason = await Promise.race([stopped, stack.failed]);
  if (reason !== "interrupted") ctx.note(`diffda: ${reason}`);
  const clean = await bringDown(ctx, stack);
  return reason === "interrupted" && clean ? 0 : 1;
}
