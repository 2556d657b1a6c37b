/**
 * The `diffda` command line: parses argv, dispatches to a command, maps errors to exit codes
 * (0 success, 1 failure or failed job, 2 usage error, 130 interrupted).
 */
import { parseArgs } from "node:util";
import { intListOption, intOption, listOption, numberOption, onePositional, UsageError } from "./args.js";
import { SYNTHETIC_FORMATS, type SyntheticFormat } from "./client/api.js";
import type { DatasetArgs } from "./client/dataset-source.js";
import { ApiError } from "./client/rest-client.js";
import type { JobState } from "./client/types.js";
import { type CliIo, type CommandContext, commandContext, DEFAULT_URL } from "./commands/context.js";
import { demoCommand } from "./commands/demo.js";
import { FETCH_PARTS, type FetchPart, fetchJob } from "./commands/fetch.js";
import { followJob } from "./commands/follow.js";
import {
  adaptersCommand,
  cancelCommand,
  listCommand,
  methodsCommand,
  modelsCommand,
  removeCommand,
  statusCommand,
} from "./commands/jobs.js";
import { type SubmitArgs, submitRun } from "./commands/submit.js";
import { upCommand } from "./commands/up.js";
import type { EmbeddedOptions } from "./embedded.js";
import { writeReport } from "./report/report.js";

/** The help text. */
export const HELP = `diffda — diffusion-based data augmentation, from the command line

usage: diffda <command> [options]

  up                     start the gateway and the three services on loopback (Ctrl-C stops them)
  demo                   up + a real comparison job on fashion-mnist 5-shot + table + HTML report
  submit                 submit a job (and register its dataset)
  watch <job>            follow a job with progress bars; print its results table at the end
  status <job>           state, task counts, top-1 per method
  list                   jobs, newest first
  cancel <job>           cancel a queued or running job
  rm <job> | rm --dataset <id> | rm --adapter <id>
                         delete a finished job (or a dataset, an adapter) and free the bytes only it held
  fetch <job>            download job.json, the synthetic set, adapters and classifier checkpoints
  report <job>           write a self-contained HTML report
  methods                list the method presets
  models                 list the models the deployment serves (id, native size, digest)
  adapters               list the key's adapters (uploaded, or trained by its jobs)
  adapters add FILE      upload a LoRA / TI safetensors: --name N --kind lora|textual_inversion --model M
                         [--tokens a,b]; a method then names it: "adapters": ["<id>"]

global:   --url URL (default $DIFFDA_URL or ${DEFAULT_URL}); API key from $DIFFDA_API_KEY

submit:   --spec FILE            a job file (a POST /v1/jobs body; "dataset" may hold a built-in task)
          --preset a,b           presets to run (replace the file's methods)
          --dataset X            fashion-mnist | mnist | textures | dir/ (ImageFolder; train/ + test/ keeps your split) | file.zip | file.tar | file.tar.gz | a dataset id
          --shots N --split-seed N --classes a,b --test-per-class N   (built-in tasks)
          --size N --channels 1|3 --test-fraction F                    (uploads)
          --seeds 0,1,2 --baselines a,b --name S --shard-size N
          --epochs N --batch-size N                                    (classifier; default: sized to the set)
          --budget steps|epochs  what every run shares: the baseline's steps (default) or epochs
          --generate-only        only the synthetic sets: no baselines, no classifier
          --webhook URL          POST the job's events there, signed (the key needs a secret:
                                 POST /v1/webhook-secret; docs/api.md#webhooks)
          --per-real N --inference-steps N --finetune-steps N          (quick overrides)
          --watch                follow it; --report FILE writes the report at the end
watch:    --from EVENT_ID        resume after this event; --report FILE
status:   --json                 list: --state S --limit N --json
fetch:    --out DIR (default .) --only synthetic,adapters,checkpoints
          --format zip|imagefolder|webdataset (the synthetic set; default zip, docs/formats.md)
report:   --out FILE (default report.html) --real DIR (real images of an uploaded dataset)
up/demo:  --port N --data-dir DIR (default .data) --models DIR (default models/)
          --finetune-port N --generation-port N --classifier-port N   (gRPC ports; default: free ones)
          --base-model ID --instruct-model ID --replicas N --ready-timeout S
demo:     --spec FILE (default cli/demo/fashion-mnist-5shot.json) --report FILE, the submit options;
          --url URL uses a running gateway instead of starting one
`;

const OPTIONS = {
  url: { type: "string" },
  help: { type: "boolean", short: "h" },
  json: { type: "boolean" },
  // submit
  spec: { type: "string" },
  preset: { type: "string" },
  dataset: { type: "string" },
  shots: { type: "string" },
  "split-seed": { type: "string" },
  classes: { type: "string" },
  "test-per-class": { type: "string" },
  size: { type: "string" },
  channels: { type: "string" },
  "test-fraction": { type: "string" },
  seeds: { type: "string" },
  baselines: { type: "string" },
  epochs: { type: "string" },
  "batch-size": { type: "string" },
  budget: { type: "string" },
  "generate-only": { type: "boolean" },
  webhook: { type: "string" },
  // adapters, rm
  kind: { type: "string" },
  model: { type: "string" },
  tokens: { type: "string" },
  adapter: { type: "string" },
  name: { type: "string" },
  "shard-size": { type: "string" },
  "per-real": { type: "string" },
  "inference-steps": { type: "string" },
  "finetune-steps": { type: "string" },
  watch: { type: "boolean" },
  report: { type: "string" },
  // watch, list, fetch, report
  from: { type: "string" },
  state: { type: "string" },
  limit: { type: "string" },
  out: { type: "string" },
  only: { type: "string" },
  format: { type: "string" },
  real: { type: "string" },
  // up, demo
  port: { type: "string" },
  "finetune-port": { type: "string" },
  "generation-port": { type: "string" },
  "classifier-port": { type: "string" },
  "data-dir": { type: "string" },
  models: { type: "string" },
  "base-model": { type: "string" },
  "instruct-model": { type: "string" },
  replicas: { type: "string" },
  "ready-timeout": { type: "string" },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>["values"];

function datasetArgs(v: Values): DatasetArgs | undefined {
  if (v.dataset === undefined) return undefined;
  const channels = intOption("channels", v.channels, 1, 3);
  if (channels !== undefined && channels !== 1 && channels !== 3)
    throw new UsageError("--channels must be 1 or 3");
  return {
    dataset: v.dataset,
    shots: intOption("shots", v.shots, 1, 1000),
    splitSeed: intOption("split-seed", v["split-seed"]),
    classes: listOption(v.classes),
    testPerClass: intOption("test-per-class", v["test-per-class"], 1),
    size: intOption("size", v.size, 8, 1024),
    channels: channels as 1 | 3 | undefined,
    testFraction: numberOption("test-fraction", v["test-fraction"], 0.05, 0.9),
    ...(v.name !== undefined ? { name: v.name } : {}),
  };
}

function budgetOption(value: string | undefined): "steps" | "epochs" | undefined {
  if (value === undefined || value === "steps" || value === "epochs") return value;
  throw new UsageError(`--budget must be steps or epochs, not ${JSON.stringify(value)}`);
}

function submitArgs(v: Values): SubmitArgs {
  return {
    spec: v.spec,
    presets: listOption(v.preset),
    dataset: datasetArgs(v),
    seeds: intListOption("seeds", v.seeds),
    baselines: listOption(v.baselines),
    epochs: intOption("epochs", v.epochs, 1, 1000),
    batchSize: intOption("batch-size", v["batch-size"], 1, 4096),
    budget: budgetOption(v.budget),
    generateOnly: v["generate-only"] === true,
    webhook: v.webhook,
    name: v.name,
    shardSize: intOption("shard-size", v["shard-size"], 1, 10_000),
    overrides: {
      perReal: intOption("per-real", v["per-real"], 1, 1000),
      inferenceSteps: intOption("inference-steps", v["inference-steps"], 1, 1000),
      finetuneSteps: intOption("finetune-steps", v["finetune-steps"], 1, 1_000_000),
    },
  };
}

function embeddedOptions(v: Values): EmbeddedOptions {
  const timeout = intOption("ready-timeout", v["ready-timeout"], 1);
  return {
    port: intOption("port", v.port, 0, 65535),
    dataDir: v["data-dir"],
    modelDir: v.models,
    baseModel: v["base-model"],
    instructModel: v["instruct-model"],
    generationReplicas: intOption("replicas", v.replicas, 1, 16),
    servicePorts: {
      finetune: intOption("finetune-port", v["finetune-port"], 0, 65535),
      generation: intOption("generation-port", v["generation-port"], 0, 65535),
      classifier: intOption("classifier-port", v["classifier-port"], 0, 65535),
    },
    ...(timeout !== undefined ? { readyTimeoutMs: timeout * 1000 } : {}),
  };
}

async function dispatch(
  ctx: CommandContext,
  command: string,
  positionals: string[],
  v: Values,
): Promise<number> {
  switch (command) {
    case "up":
      return upCommand(ctx, embeddedOptions(v));
    case "demo":
      return demoCommand(ctx, {
        submit: submitArgs(v),
        url: v.url,
        report: v.report,
        embedded: embeddedOptions(v),
      });
    case "submit": {
      const client = ctx.client();
      const { job } = await submitRun(client, submitArgs(v), (line) => ctx.print(line));
      if (!v.watch) {
        ctx.print(`follow it: diffda watch ${job.id}`);
        return 0;
      }
      const followed = await followJob(ctx, client, job.id);
      if (followed.job.state === "succeeded" && v.report !== undefined) {
        const report = await writeReport(client, job.id, {
          out: v.report,
          wallSeconds: followed.wallSeconds,
        });
        ctx.print(`report: ${report.path}`);
      }
      return followed.job.state === "succeeded" ? 0 : 1;
    }
    case "watch": {
      const jobId = onePositional(positionals, "job id");
      const client = ctx.client();
      const followed = await followJob(ctx, client, jobId, { lastEventId: intOption("from", v.from) });
      if (followed.job.state === "succeeded" && v.report !== undefined) {
        const report = await writeReport(client, jobId, { out: v.report, wallSeconds: followed.wallSeconds });
        ctx.print(`report: ${report.path}`);
      }
      return followed.job.state === "succeeded" ? 0 : 1;
    }
    case "status":
      return statusCommand(ctx, onePositional(positionals, "job id"), v.json === true);
    case "list":
      return listCommand(ctx, {
        state: v.state as JobState | undefined,
        limit: intOption("limit", v.limit, 1, 100),
        json: v.json === true,
      });
    case "cancel":
      return cancelCommand(ctx, onePositional(positionals, "job id"));
    case "rm":
      if (v.adapter !== undefined && positionals.length === 0)
        return removeCommand(ctx, "adapter", v.adapter);
      return v.dataset !== undefined && positionals.length === 0
        ? removeCommand(ctx, "dataset", String(v.dataset))
        : removeCommand(ctx, "job", onePositional(positionals, "job id"));
    case "methods":
      return methodsCommand(ctx);
    case "models":
      return modelsCommand(ctx);
    case "adapters": {
      if (positionals[0] === undefined) return adaptersCommand(ctx);
      if (positionals[0] !== "add" || positionals.length !== 2) throw new UsageError("adapters add FILE");
      const kind = v.kind;
      if (kind !== "lora" && kind !== "textual_inversion")
        throw new UsageError("--kind must be lora or textual_inversion");
      if (v.name === undefined || v.model === undefined)
        throw new UsageError("adapters add needs --name and --model");
      return adaptersCommand(ctx, {
        file: positionals[1],
        name: v.name,
        kind,
        model: v.model,
        tokens: listOption(v.tokens),
      });
    }
    case "fetch": {
      const jobId = onePositional(positionals, "job id");
      const only = listOption(v.only);
      for (const part of only ?? []) {
        if (!(FETCH_PARTS as readonly string[]).includes(part)) {
          throw new UsageError(`--only takes ${FETCH_PARTS.join(", ")}; got ${part}`);
        }
      }
      const format = v.format ?? "zip";
      if (!(SYNTHETIC_FORMATS as readonly string[]).includes(format)) {
        throw new UsageError(`--format takes ${SYNTHETIC_FORMATS.join(", ")}; got ${format}`);
      }
      const files = await fetchJob(
        ctx.client(),
        jobId,
        v.out ?? ".",
        (only as FetchPart[]) ?? FETCH_PARTS,
        (file) => ctx.print(`${file.path}  (${file.bytes} bytes)`),
        format as SyntheticFormat,
      );
      ctx.print(`${files.length} files`);
      return 0;
    }
    case "report": {
      const jobId = onePositional(positionals, "job id");
      const report = await writeReport(ctx.client(), jobId, { out: v.out, realDir: v.real });
      ctx.print(
        `report: ${report.path} (${(report.bytes / 1024).toFixed(0)} KiB, ${report.grids} image grids)`,
      );
      return 0;
    }
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

/** Runs the command line `argv` (without node and the script); resolves with the exit code. */
export async function runCli(argv: readonly string[], io: CliIo, signal: AbortSignal): Promise<number> {
  let parsed: { values: Values; positionals: string[] };
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    io.stderr.write(`diffda: ${(error as Error).message}\n\n${HELP}`);
    return 2;
  }
  const [command, ...positionals] = parsed.positionals;
  if (command === undefined || command === "help" || parsed.values.help) {
    io.stdout.write(HELP);
    return command === undefined && !parsed.values.help ? 2 : 0;
  }
  const ctx = commandContext(io, parsed.values.url, signal);
  try {
    return await dispatch(ctx, command, positionals, parsed.values);
  } catch (error) {
    if (signal.aborted) {
      io.stderr.write("diffda: interrupted\n");
      return 130;
    }
    if (error instanceof UsageError) {
      io.stderr.write(`diffda ${command}: ${error.message}\n(diffda --help lists the options)\n`);
      return 2;
    }
    if (error instanceof ApiError) {
      io.stderr.write(`diffda ${command}: ${error.code}: ${error.message}\n`);
      return 1;
    }
    io.stderr.write(`diffda ${command}: ${(error as Error).message ?? String(error)}\n`);
    return 1;
  }
}
