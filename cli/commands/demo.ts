/**
 * `diffda demo` (`npm run demo`): the README's main command. Starts the embedded stack (or uses the
 * gateway at `--url`), submits the committed comparison job (`cli/demo/fashion-mnist-5shot.json`: a
 * built-in few-shot task, DiffDA presets beside the two baselines, settings sized for a 2-core machine),
 * follows it with progress bars, prints the results table, writes the HTML report, and stops the stack.
 */
import { join, resolve } from "node:path";
import { type EmbeddedOptions, REPO_ROOT } from "../embedded.js";
import { formatDuration } from "../progress/bar.js";
import { writeReport } from "../report/report.js";
import type { CommandContext } from "./context.js";
import { followJob } from "./follow.js";
import { buildSubmission, type SubmitArgs, submitRun } from "./submit.js";
import { bringDown, bringUp } from "./up.js";

/** The committed demo job. */
export const DEMO_SPEC = join(REPO_ROOT, "cli", "demo", "fashion-mnist-5shot.json");

/** Options of the demo. */
export interface DemoOptions {
  /** The job (default {@link DEMO_SPEC}) and any overrides. */
  readonly submit: SubmitArgs;
  /** Use this running gateway instead of starting one. */
  readonly url?: string;
  /** Where the report goes (default `<data dir>/reports/<job>.html`). */
  readonly report?: string;
  readonly embedded: EmbeddedOptions;
}

/** `diffda demo`. */
export async function demoCommand(ctx: CommandContext, options: DemoOptions): Promise<number> {
  const started = Date.now();
  const submit: SubmitArgs = { ...options.submit, spec: options.submit.spec ?? DEMO_SPEC };
  await buildSubmission(submit); // a bad job file or option fails before anything starts
  const stack = options.url === undefined ? await bringUp(ctx, options.embedded) : undefined;
  const client = ctx.client(stack?.url ?? options.url);
  let code = 1;
  try {
    const run = async () => {
      const { job } = await submitRun(client, submit, (line) => ctx.print(line));
      const followed = await followJob(ctx, client, job.id);
      if (followed.job.state !== "succeeded") return 1;
      const out = options.report ?? join(stack?.dataDir ?? resolve(".data"), "reports", `${job.id}.html`);
      const report = await writeReport(client, job.id, { out, wallSeconds: followed.wallSeconds });
      ctx.print();
      ctx.print(
        `report: ${report.path} (${(report.bytes / 1024).toFixed(0)} KiB, ${report.grids} image grids)`,
      );
      return 0;
    };
    const failed = stack?.failed.then((reason) => {
      throw new Error(reason);
    });
    code = await (failed ? Promise.race([run(), failed]) : run());
  } finally {
    if (stack !== undefined && !(await bringDown(ctx, stack))) code = code || 1;
    ctx.print(`demo finished in ${formatDuration((Date.now() - started) / 1000)}`);
  }
  return code;
}
