/**
 * `npm run bench:grid`: plans the selected cells, skips the finished ones, runs the rest one job at a
 * time through the gateway (the embedded stack it starts, or `--url` / `$DIFFDA_URL`), and writes the
 * table (JSON), the Markdown and its figures from every finished cell. Exit codes: 0 done, 1 a cell
 * failed, 2 bad usage or configuration, 130 interrupted (a resumable state is left behind).
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { dirname, join, relative, resolve } from "node:path";
import { parseArgs } from "node:util";
import { intListOption, listOption, UsageError } from "../../cli/args.js";
import { ApiError, createRestClient, type RestClient } from "../../cli/client/rest-client.js";
import {
  DEFAULT_BASE_MODEL,
  DEFAULT_INSTRUCT_MODEL,
  type EmbeddedStack,
  REPO_ROOT,
  startEmbedded,
} from "../../cli/embedded.js";
import { formatDuration } from "../../cli/progress/bar.js";
import { type Cell, type CellMethod, gridCells, resolveSelection, sweepCells } from "./cells.js";
import { DEFAULT_CONFIG, type GridConfig, GridConfigError, loadGridConfig } from "./config.js";
import { estimateJob } from "./estimate.js";
import { renderDocument, resultsMarkdown, setupMarkdown } from "./markdown.js";
import { figures } from "./plots.js";
import { runCell } from "./runner.js";
import { cellStatus, listCells, readCell } from "./store.js";
import { buildTable } from "./table.js";

/** The help text. */
const HELP = `npm run bench:grid -- [options]

The paper's benchmark in miniature: every method preset × task × shots × seed as jobs through the
gateway's REST API, resumable (finished cells are skipped), then the results table, docs and figures.

  --shots 1,5,10        shot counts to run (default: the configuration's)
  --tasks seen,novel    tasks to run (default: all: seen, novel, ood)
  --seeds 0,1,2         seeds: the few-shot draw and the job's seed (default: the configuration's)
  --methods a,b         DiffDA presets to run (default: all seven); the baselines always run
  --sweep               also run the strength × replacement-probability sweep
  --sweep-only          run only the sweep
  --url URL             use this gateway (default: $DIFFDA_URL; unset: start the embedded stack)
  --out DIR             results directory (default bench/results): cells in DIR/grid/, DIR/diffda-grid.json
  --doc FILE            Markdown to update (default docs/benchmark.md); figures in its benchmark/ folder
  --config FILE         grid configuration (default bench/grid/grid.json)
  --data-dir DIR        embedded stack's data and the pending jobs (default .data/bench-grid)
  --models DIR --base-model ID --instruct-model ID      the embedded stack's model kit
  --dry-run             print the plan and the time estimate; run nothing, write nothing
  --report-only         rewrite the table, docs and figures from the stored cells; run nothing
  -h, --help
`;

const OPTIONS = {
  shots: { type: "string" },
  tasks: { type: "string" },
  seeds: { type: "string" },
  methods: { type: "string" },
  sweep: { type: "boolean" },
  "sweep-only": { type: "boolean" },
  url: { type: "string" },
  out: { type: "string" },
  doc: { type: "string" },
  config: { type: "string" },
  "data-dir": { type: "string" },
  models: { type: "string" },
  "base-model": { type: "string" },
  "instruct-model": { type: "string" },
  "dry-run": { type: "boolean" },
  "report-only": { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

/** Where the command writes. */
export interface GridIo {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** The directory relative paths resolve against (default the repository root). */
  readonly cwd?: string;
}

/** Model files whose content decides what the kit generates. */
const MODEL_FILE = /\.(onnx|json|txt)$/;

/** SHA-256 prefix over a model folder's files (path and content), or null if it does not exist. */
async function modelDigest(folders: readonly string[]): Promise<string | null> {
  const hash = createHash("sha256");
  for (const folder of folders) {
    if (!existsSync(folder)) return null;
    const files = (await readdir(folder, { recursive: true }))
      .map(String)
      .filter((f) => MODEL_FILE.test(f))
      .sort();
    for (const file of files) {
      hash.update(`${relative(dirname(folder), join(folder, file))}\0`);
      hash.update(await readFile(join(folder, file)));
    }
  }
  return hash.digest("hex").slice(0, 16);
}

interface Planned {
  readonly cell: Cell;
  readonly todo: readonly CellMethod[];
  readonly stale: readonly string[];
}

function isUsageError(error: unknown): boolean {
  return (
    error instanceof UsageError ||
    error instanceof GridConfigError ||
    String((error as { code?: unknown }).code ?? "").startsWith("ERR_PARSE_ARGS")
  );
}

/** Runs the command; resolves with the exit code. */
export async function runGridCommand(
  argv: readonly string[],
  io: GridIo,
  signal: AbortSignal,
): Promise<number> {
  const print = (line = "") => void io.stdout.write(`${line}\n`);
  const note = (line: string) => void io.stderr.write(`${line}\n`);
  const cwd = io.cwd ?? REPO_ROOT;
  const path = (p: string) => resolve(cwd, p);
  let values: ReturnType<typeof parseArgs<{ options: typeof OPTIONS }>>["values"];
  let config: GridConfig;
  let cells: Cell[];
  try {
    values = parseArgs({ args: [...argv], options: OPTIONS, strict: true, allowPositionals: false }).values;
    if (values.help) {
      io.stdout.write(HELP);
      return 0;
    }
    if (values["dry-run"] && values["report-only"])
      throw new UsageError("--dry-run and --report-only exclude each other");
    config = await loadGridConfig(values.config === undefined ? DEFAULT_CONFIG : path(values.config));
    const selection = resolveSelection(config, {
      tasks: listOption(values.tasks),
      shots: intListOption("shots", values.shots),
      seeds: intListOption("seeds", values.seeds),
      methods: listOption(values.methods),
      sweep: values.sweep,
      sweepOnly: values["sweep-only"],
    });
    cells = [...gridCells(config, selection), ...sweepCells(config, selection)];
  } catch (error) {
    if (isUsageError(error)) {
      note(`bench:grid: ${(error as Error).message}\n\n${HELP}`);
      return 2;
    }
    throw error;
  }

  const outDir = path(values.out ?? "bench/results");
  const resultsDir = join(outDir, "grid");
  const docPath = path(values.doc ?? "docs/benchmark.md");
  const dataDir = path(values["data-dir"] ?? ".data/bench-grid");
  const url = values.url ?? (io.env.DIFFDA_URL || undefined);
  const modelDir = path(values.models ?? io.env.MODEL_DIR ?? join(REPO_ROOT, "models"));
  const baseModel = values["base-model"] ?? io.env.BASE_MODEL ?? DEFAULT_BASE_MODEL;
  const instructModel = values["instruct-model"] ?? io.env.INSTRUCT_MODEL ?? DEFAULT_INSTRUCT_MODEL;
  // The kit's digest is known only for the embedded stack (a remote gateway's files are not readable
  // here); when known, a cell made with another kit counts as stale.
  const digest =
    url === undefined ? await modelDigest([join(modelDir, baseModel), join(modelDir, instructModel)]) : null;
  const plan: Planned[] = [];
  for (const cell of cells) {
    const status = cellStatus(cell, await readCell(resultsDir, cell.id), digest);
    plan.push({ cell, todo: status.todo, stale: status.stale });
  }

  const pending = plan.filter((p) => p.todo.length > 0);
  if (values["report-only"]) print(`bench:grid ${config.name}: the report from the stored cells`);
  else
    print(
      `bench:grid ${config.name}: ${plan.length} cell${plan.length === 1 ? "" : "s"} selected, ${plan.length - pending.length} finished, ${pending.length} to run`,
    );
  let estimateTotal = 0;
  for (const p of values["report-only"] ? [] : plan) {
    const label = p.cell.id.padEnd(34);
    if (p.todo.length === 0) {
      print(`  ${label} finished: skipped`);
      continue;
    }
    const estimate =
      config.calibration === null ? undefined : estimateJob(p.cell, p.todo, config.calibration);
    if (estimate) estimateTotal += estimate.wallSeconds;
    const what =
      p.todo.length === p.cell.methods.length
        ? `${p.todo.length} methods`
        : `${p.todo.length} of ${p.cell.methods.length} methods`;
    print(
      `  ${label} to run: ${what}${p.stale.length > 0 ? ` (stale: ${p.stale.join(", ")})` : ""}${estimate ? `, about ${formatDuration(estimate.wallSeconds)}` : ""}`,
    );
  }
  if (pending.length > 0 && config.calibration !== null && !values["report-only"]) {
    const start = url === undefined ? config.calibration.stackStartSeconds : 0;
    print(
      `  estimated time: about ${formatDuration(estimateTotal + start)} (calibration: ${config.calibration.measured})`,
    );
  }
  if (values["dry-run"]) return 0;

  let failures = 0;
  let interrupted = false;
  if (pending.length > 0 && !values["report-only"]) {
    const started = Date.now();
    let stack: EmbeddedStack | undefined;
    const controller = new AbortController();
    const abort = () => controller.abort(signal.reason);
    signal.addEventListener("abort", abort, { once: true });
    try {
      let client: RestClient;
      let gateway: string;
      if (url === undefined) {
        stack = await startEmbedded({
          dataDir,
          modelDir,
          baseModel,
          instructModel,
          env: io.env,
          onStatus: (line) => note(`bench:grid: ${line}`),
          signal: controller.signal,
        });
        void stack.failed.then((reason) => controller.abort(new Error(reason)));
        client = createRestClient({ baseUrl: stack.url });
        gateway = `embedded:${dataDir}`;
        print(`embedded stack up: ${stack.url} (data and logs in ${dataDir})`);
      } else {
        client = createRestClient({ baseUrl: url, apiKey: io.env.DIFFDA_API_KEY || undefined });
        gateway = url;
        print(`gateway: ${url}`);
      }
      for (const [i, p] of pending.entries()) {
        const cellStarted = Date.now();
        print(`[${i + 1}/${pending.length}] ${p.cell.id}: ${p.todo.map((m) => m.label).join(", ")}`);
        const outcome = await runCell(p.cell, p.todo, {
          client,
          gateway,
          resultsDir,
          stateDir: dataDir,
          modelDigest: digest,
          signal: controller.signal,
          log: (line) => print(`  ${line}`),
        }).catch((error: unknown) => {
          // The gateway refused the job or stayed unreachable: this cell fails, the next may not.
          if (!(error instanceof ApiError) || controller.signal.aborted) throw error;
          return { state: "failed" as const, jobId: null, error: `${error.code}: ${error.message}` };
        });
        const took = formatDuration((Date.now() - cellStarted) / 1000);
        if (outcome.state === "succeeded") {
          const top1 = p.todo
            .map((m) => `${m.label} ${(outcome.record.methods[m.label].top1 * 100).toFixed(1)}`)
            .join(", ");
          const where = relative(cwd, outcome.path).startsWith("..")
            ? outcome.path
            : relative(cwd, outcome.path);
          print(`  ${p.cell.id}: done in ${took} — top-1 % ${top1} → ${where}`);
        } else {
          failures++;
          print(`  ${p.cell.id}: FAILED after ${took}: ${outcome.error}`);
        }
      }
      print(
        `ran ${pending.length} cell${pending.length === 1 ? "" : "s"} in ${formatDuration((Date.now() - started) / 1000)}`,
      );
    } catch (error) {
      interrupted = signal.aborted;
      const why = controller.signal.aborted
        ? interrupted
          ? "interrupted"
          : String((controller.signal.reason as Error)?.message ?? controller.signal.reason)
        : String((error as Error)?.message ?? error);
      note(`bench:grid: ${why}; finished cells are kept, a re-run resumes the rest`);
      failures++;
    } finally {
      signal.removeEventListener("abort", abort);
      if (stack !== undefined) {
        note("bench:grid: stopping the embedded stack");
        await stack.stop();
      }
    }
  }

  await writeOutputs(config, { outDir, resultsDir, docPath, digest, print, cwd });
  if (interrupted) return 130;
  return failures > 0 ? 1 : 0;
}

/** Writes the table, the Markdown and the figures from every finished cell of the results directory. */
async function writeOutputs(
  config: GridConfig,
  options: {
    outDir: string;
    resultsDir: string;
    docPath: string;
    digest: string | null;
    print: (line: string) => void;
    cwd: string;
  },
): Promise<void> {
  const records = await listCells(options.resultsDir);
  const result = buildTable(config, records, { modelDigest: options.digest });
  await mkdir(options.outDir, { recursive: true });
  const tablePath = join(options.outDir, "diffda-grid.json");
  await writeFile(tablePath, `${JSON.stringify(result, null, 2)}\n`);
  const figureDir = join(dirname(options.docPath), "benchmark");
  const made = figures(result);
  // Figures of cells no longer in the table (another configuration) must not linger beside the new ones.
  if (existsSync(figureDir)) {
    for (const name of await readdir(figureDir)) if (name.endsWith(".svg")) await rm(join(figureDir, name));
  }
  if (made.length > 0) await mkdir(figureDir, { recursive: true });
  for (const figure of made) await writeFile(join(figureDir, figure.file), `${figure.svg}\n`);
  const doc = await renderDocument(
    options.docPath,
    setupMarkdown(config),
    resultsMarkdown(result, made, relative(dirname(options.docPath), figureDir)),
  );
  await mkdir(dirname(options.docPath), { recursive: true });
  await writeFile(options.docPath, doc);
  const rel = (p: string) => (relative(options.cwd, p).startsWith("..") ? p : relative(options.cwd, p));
  options.print(
    `wrote ${rel(tablePath)} (${result.rows.length} rows${result.sweep ? `, sweep ${result.sweep.rows.length} variants` : ""}), ${rel(options.docPath)}, ${made.length} figure${made.length === 1 ? "" : "s"} in ${rel(figureDir)}`,
  );
}
