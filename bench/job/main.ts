/**
 * `npm run bench:job`: where a whole job's time goes. Starts the embedded stack (gateway with PGlite, the
 * three compute services, the bundled model kit) in a throwaway data directory, reads every process's
 * CPU seconds and resident memory and every service's phase counters, runs one fixed job (default: the
 * README's demo job) over REST, reads them all again, waits for the stack to go idle and reads the
 * memory a third time. Prints a table and writes bench/results/job.json with:
 * - the job's wall time and, per process, the CPU seconds it spent on the job;
 * - per stage (task kind): tasks, summed task time and the CPU seconds the services measured;
 * - per service, the phases inside its calls (`diffda_<service>_phase_seconds_total{phase}`: decode,
 *   session_open, train, accuracy, forward, encode for the classifier; model, engine for generation) and
 *   the finetune runs' time;
 * - the compute floor: the CPU seconds of the same work with nothing around it — the classifier's training
 *   runs and evaluations replayed in this process on the service's own code with warm sessions (floor.ts),
 *   plus the CPU seconds the generation and finetune services measured inside their calls (their engines
 *   keep models and sessions loaded) — and that floor spread over the machine's cores, the least wall time
 *   the work could take here; the job's wall time and CPU seconds over it;
 * - resident memory of each process at idle before the job, at its peak, and at idle after it.
 *
 *   npm run bench:job                          # the demo job
 *   npm run bench:job -- --budget epochs       # the demo job epoch-matched (the work before the step budget)
 *   npm run bench:job -- --generate-only --out bench/results/job-generate.json   # its generation alone
 *   npm run bench:job -- --root ../old --no-floor --out old.json   # the same job on another checkout
 *   npm run bench:job -- --spec my-job.json --idle-wait 20   # seconds idle before the last memory reading (default 70: past the classifier's 60 s session idle timeout)
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { availableParallelism, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { getJob } from "../../cli/client/api.js";
import { createRestClient } from "../../cli/client/rest-client.js";
import { isFinalState } from "../../cli/client/types.js";
import { DEMO_SPEC } from "../../cli/commands/demo.js";
import { submitRun } from "../../cli/commands/submit.js";
import { freePorts } from "../../cli/embedded/ports.js";
import { startStack } from "../../cli/embedded/stack.js";
import { embeddedUnits } from "../../cli/embedded.js";
import { round } from "../results.js";
import { classifierFloor } from "./floor.js";
import { loadAverage, type ProcessReading, readProcess } from "./processes.js";
import { difference, type Scrape, scrape, sumBy } from "./prometheus.js";

const RESULTS = join(dirname(fileURLToPath(import.meta.url)), "..", "results", "job.json");
const MIB = 2 ** 20;

const { values: args } = parseArgs({
  options: {
    spec: { type: "string" },
    out: { type: "string" },
    "idle-wait": { type: "string", default: "70" },
    // Run the stack from another checkout (the same job before and after a change, on one machine).
    root: { type: "string" },
    budget: { type: "string" },
    "generate-only": { type: "boolean", default: false },
    "no-floor": { type: "boolean", default: false },
  },
});
const budget = args.budget as "steps" | "epochs" | undefined;
const spec = args.spec ?? DEMO_SPEC;
const idleWaitSeconds = Number(args["idle-wait"]);

const dataDir = await mkdtemp(join(tmpdir(), "diffda-bench-job-"));
const { units, url } = await embeddedUnits({
  dataDir,
  env: process.env,
  ...(args.root ? { root: args.root, modelDir: join(args.root, "models") } : {}),
});
// The services' metrics endpoints on known ports (the embedded stack picks random ones).
const metricsPorts = await freePorts(units.length);
const patched = units.map((unit, i) =>
  unit.spec.name === "gateway"
    ? unit
    : { ...unit, spec: { ...unit.spec, env: { ...unit.spec.env, METRICS_PORT: String(metricsPorts[i]) } } },
);
const metricsUrl = (name: string) => {
  const i = patched.findIndex((u) => u.spec.name === name);
  return name === "gateway" ? `${url}/metrics` : `http://127.0.0.1:${metricsPorts[i]}/metrics`;
};

const loadStart = await loadAverage();
console.log(`load average at start: ${loadStart.line}`);
const stack = await startStack(patched, { onStatus: (line) => console.log(line) });
let stopped = false;
const names = stack.processes.map((p) => p.name);
const readAll = async () =>
  Object.fromEntries(
    await Promise.all(stack.processes.map(async (p) => [p.name, await readProcess(p.pid)] as const)),
  ) as Record<string, ProcessReading>;
const scrapeAll = async () =>
  Object.fromEntries(
    await Promise.all(names.map(async (n) => [n, await scrape(metricsUrl(n))] as const)),
  ) as Record<string, Scrape>;

try {
  await sleep(2000); // let start-up work settle before the idle reading
  const idleBefore = await readAll();
  const scrapesBefore = await scrapeAll();
  const client = createRestClient({ baseUrl: url });
  const started = performance.now();
  const { job: submitted, dataset } = await submitRun(
    client,
    { spec, ...(budget ? { budget } : {}), generateOnly: args["generate-only"] },
    (line) => console.log(line),
  );
  let job = submitted;
  while (!isFinalState(job.state)) {
    await sleep(500);
    job = await getJob(client, submitted.id);
  }
  const wallSeconds = (performance.now() - started) / 1000;
  console.log(`job ${job.id} ${job.state} in ${wallSeconds.toFixed(1)} s`);
  const afterJob = await readAll();
  const scrapesAfter = await scrapeAll();
  await sleep(idleWaitSeconds * 1000);
  const idleAfter = await readAll();
  await stack.stop();
  stopped = true;
  if (job.state !== "succeeded") throw new Error(`the job ${job.state}; no floor to measure`);
  const replay = args["no-floor"]
    ? { runs: 0, trainWallSeconds: Number.NaN, evaluateWallSeconds: Number.NaN, cpuSeconds: Number.NaN }
    : await (async () => {
        console.log("replaying the classifier work in-process for the compute floor…");
        return classifierFloor(
          job,
          { channels: dataset.image.channels === 1 ? 1 : 3, size: dataset.image.height },
          { train: dataset.trainCount, test: dataset.testCount },
        );
      })();
  const loadEnd = await loadAverage();

  const phase = (name: string, metric: string) =>
    scrapesBefore[name] === undefined
      ? {}
      : difference(sumBy(scrapesAfter[name], metric, "phase"), sumBy(scrapesBefore[name], metric, "phase"));
  const classifierPhases = phase("classifier", "diffda_classifier_phase_seconds_total");
  const generationPhases = phase("generation", "diffda_generation_phase_seconds_total");
  const finetuneSeconds =
    (sumBy(scrapesAfter.finetune, "diffda_finetune_run_duration_seconds_sum", "outcome").ok ?? 0) -
    (sumBy(scrapesBefore.finetune, "diffda_finetune_run_duration_seconds_sum", "outcome").ok ?? 0);
  const taskSeconds = difference(
    sumBy(scrapesAfter.gateway, "diffda_job_stage_duration_seconds_sum", "kind"),
    sumBy(scrapesBefore.gateway, "diffda_job_stage_duration_seconds_sum", "kind"),
  );
  const serviceCpu = (kind: string) => job.result?.stages[kind]?.cpuSeconds ?? 0;
  const floorCpu = {
    finetune: serviceCpu("finetune"),
    generate: serviceCpu("generate"),
    classifier: replay.cpuSeconds,
  };
  const floorCpuSeconds = Object.values(floorCpu).reduce((a, b) => a + b, 0);
  const cores = availableParallelism();
  const floorWallSeconds = floorCpuSeconds / cores;
  const cpuSeconds = Object.fromEntries(
    names.map((n) => [n, round(afterJob[n].cpuSeconds - idleBefore[n].cpuSeconds, 2)]),
  );
  const totalCpu = Object.values(cpuSeconds).reduce((a, b) => a + b, 0);
  const memory = Object.fromEntries(
    names.map((n) => [
      n,
      {
        idleBeforeMiB: round(idleBefore[n].rssBytes / MIB, 1),
        peakMiB: round(idleAfter[n].peakRssBytes / MIB, 1),
        idleAfterMiB: round(idleAfter[n].rssBytes / MIB, 1),
      },
    ]),
  );
  const stages = job.result?.stages ?? {};
  const figures = {
    spec,
    jobId: job.id,
    state: job.state,
    machine: { cores, loadStart: loadStart.line, loadEnd: loadEnd.line },
    wallSeconds: round(wallSeconds, 2),
    cpuSeconds: { total: round(totalCpu, 2), byProcess: cpuSeconds },
    stages: Object.fromEntries(
      Object.entries(stages).map(([kind, s]) => [
        kind,
        {
          tasks: s.tasks,
          taskSeconds: round(s.seconds, 2),
          serviceCpuSeconds: s.cpuSeconds == null ? null : round(s.cpuSeconds, 2),
          gatewayTaskSeconds: round(taskSeconds[kind] ?? 0, 2),
        },
      ]),
    ),
    phases: {
      classifier: Object.fromEntries(Object.entries(classifierPhases).map(([k, v]) => [k, round(v, 2)])),
      generation: Object.fromEntries(Object.entries(generationPhases).map(([k, v]) => [k, round(v, 2)])),
      finetuneRunSeconds: round(finetuneSeconds, 2),
    },
    computeFloor: {
      cpuSeconds: Object.fromEntries(Object.entries(floorCpu).map(([k, v]) => [k, round(v, 2)])),
      classifierReplay: {
        runs: replay.runs,
        trainWallSeconds: round(replay.trainWallSeconds, 2),
        evaluateWallSeconds: round(replay.evaluateWallSeconds, 2),
      },
      totalCpuSeconds: round(floorCpuSeconds, 2),
      wallSecondsOnAllCores: round(floorWallSeconds, 2),
      jobWallOverFloor: round(wallSeconds / floorWallSeconds, 3),
      jobCpuOverFloor: round(totalCpu / floorCpuSeconds, 3),
    },
    memory,
    // The job's own figures, to quote beside its cost (top-1 over seeds, the paired gain and its interval).
    results: (job.result?.methods ?? []).map((m) => ({
      label: m.label,
      top1: m.top1Accuracy,
      gainOverBaseline: m.gainOverBaseline,
      runs: m.runs.map((r) => ({
        seed: r.seed,
        top1: r.top1Accuracy,
        steps: r.steps ?? null,
        epochs: r.epochs ?? null,
        batchSize: r.batchSize ?? null,
        imagesSeen: r.imagesSeen ?? null,
        finalTrainAccuracy: r.finalTrainAccuracy ?? null,
        syntheticImages: r.syntheticImages,
      })),
    })),
  };

  console.log(
    `\njob wall ${wallSeconds.toFixed(1)} s, CPU ${totalCpu.toFixed(1)} s over ${names.length} processes`,
  );
  for (const [kind, s] of Object.entries(figures.stages))
    console.log(
      `  ${kind.padEnd(10)} ${String(s.tasks).padStart(3)} tasks  task time ${s.taskSeconds.toFixed(1).padStart(7)} s  service cpu ${String(s.serviceCpuSeconds ?? "—").padStart(7)} s`,
    );
  console.log(`classifier phases (s): ${JSON.stringify(figures.phases.classifier)}`);
  console.log(`generation phases (s): ${JSON.stringify(figures.phases.generation)}`);
  console.log(
    `compute floor ${floorCpuSeconds.toFixed(1)} CPU s (${JSON.stringify(figures.computeFloor.cpuSeconds)}), ${floorWallSeconds.toFixed(1)} s on ${cores} cores: job wall / floor ${figures.computeFloor.jobWallOverFloor}, job CPU / floor ${figures.computeFloor.jobCpuOverFloor}`,
  );
  for (const [n, m] of Object.entries(memory))
    console.log(
      `  ${n.padEnd(11)} RSS idle ${m.idleBeforeMiB} MiB, peak ${m.peakMiB} MiB, idle after the job ${m.idleAfterMiB} MiB; job CPU ${cpuSeconds[n]} s`,
    );
  console.log(`load average at end: ${loadEnd.line}`);
  await writeFile(args.out ?? RESULTS, `${JSON.stringify(figures, null, 2)}\n`);
  console.log(`wrote ${args.out ?? RESULTS}`);
} finally {
  if (!stopped) await stack.stop();
  await rm(dataDir, { recursive: true, force: true });
}
