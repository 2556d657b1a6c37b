/**
 * `npm run chaos`: a bounded fault campaign with every process real.
 *
 * For each job store (PGlite in a data directory, and/or the PostgreSQL at DIFFDA_TEST_DATABASE_URL in a
 * throwaway schema, skipped with a message when nothing listens there) it starts the gateway, the
 * finetune service, two generation replicas and the classifier as their own processes on loopback with
 * the tiny test models and short task leases (TASK_LEASE_MS = 3 s). A few workers keep submitting small
 * DA-Fusion jobs over REST with the CLI's client while a seeded PRNG picks random moments and a random
 * process to SIGKILL; the killed process starts again on the same ports (the gateway on the same store
 * and artifact directory), so clients and gRPC channels reconnect. After `--kills` kills, or 70 % of
 * `--duration`, no new jobs are submitted and the campaign waits for the submitted ones to finish, up to
 * the `--duration` bound (the hard bound on each store's wall time, start-up included). Each job is then
 * checked: it succeeded, and its synthetic images (listing, synthetic.zip and its manifest) are exactly
 * the planned ones: none lost, no (shard, index) key or image bytes twice, none in a shard, source or
 * class other than planned (the image columns count succeeded jobs).
 *
 * Prints a table per store and writes it to bench/results/chaos.json; exits non-zero when a job failed
 * or did not finish, or an image was lost, repeated or misplaced.
 *
 *   npm run chaos -- --kills 20 --duration 300 --seed 1 --store both
 */
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import pg from "pg";
import { createRestClient, type RestClient } from "../../cli/client/rest-client.js";
import { isFinalState } from "../../cli/client/types.js";
import { Rng } from "../../shared/random/index.js";
import { tinyModels } from "../../shared/testing/tiny-models.js";
import { startCluster, TARGETS, type Target } from "./cluster.js";
import { checkJob, type JobCheck, type SubmittedJob, submitSmallJob } from "./jobs.js";

const DATABASE_URL = process.env.DIFFDA_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const LEASE_MS = 3000;
const WORKERS = 3;
const KILL_SHARE = 0.7; // of --duration; the rest is for the submitted jobs to finish
const CHECK_RESERVE_S = 20; // at most, kept back from the drain for the checks and the shutdown

const { values } = parseArgs({
  options: {
    kills: { type: "string", default: "20" },
    duration: { type: "string", default: "300" },
    seed: { type: "string", default: "1" },
    store: { type: "string", default: "both" },
  },
});
const KILLS = Number(values.kills);
const DURATION_S = Number(values.duration);
const SEED = Number(values.seed);
const STORE = String(values.store);
if (!Number.isInteger(KILLS) || KILLS < 0)
  throw new Error(`--kills must be an integer ≥ 0, got ${values.kills}`);
if (!(DURATION_S >= 30)) throw new Error(`--duration must be at least 30 seconds, got ${values.duration}`);
if (!Number.isInteger(SEED) || SEED < 0) throw new Error(`--seed must be an integer ≥ 0, got ${values.seed}`);
if (!["pglite", "postgres", "both"].includes(STORE))
  throw new Error(`--store must be pglite, postgres or both, got ${STORE}`);

const log = (text: string) => process.stderr.write(`chaos: ${text}\n`);

/** One store's outcome. */
interface StoreResult {
  store: string;
  skipped?: string;
  kills: Record<Target, number>;
  killLog: { atS: number; target: Target; restartS: number }[];
  jobs: { submitted: number; succeeded: number; failed: number; unfinished: number; submitErrors: number };
  images: { planned: number; stored: number; lost: number; repeated: number; misplaced: number };
  wallS: number;
  problems: string[];
}

const noKills = (): Record<Target, number> =>
  Object.fromEntries(TARGETS.map((t) => [t, 0])) as Record<Target, number>;

/** Whether the PostgreSQL answers: null if it does, else why it is skipped (only when nothing listens). */
async function postgresSkip(): Promise<string | null> {
  const probe = new pg.Client({ connectionString: DATABASE_URL, connectionTimeoutMillis: 5_000 });
  try {
    await probe.connect();
    await probe.end();
    return null;
  } catch (error) {
    if ((error as { code?: string }).code === "ECONNREFUSED") return `nothing listens at ${DATABASE_URL}`;
    throw error;
  }
}

/** Polls the job until it is final or `deadline` passes; the last state seen. */
async function follow(client: RestClient, id: string, deadline: number): Promise<string> {
  let state = "unknown";
  // At least one poll, even past the deadline.
  for (let first = true; first || performance.now() < deadline; first = false) {
    try {
      state = (await client.json<{ state: string }>({ method: "GET", path: `/v1/jobs/${id}` })).state;
      if (isFinalState(state)) return state;
    } catch (error) {
      // The gateway is being restarted; the client's own retries ran out. Poll again.
      if (process.env.CHAOS_DEBUG) log(`poll ${id}: ${(error as Error).message}`);
    }
    if (performance.now() < deadline) await sleep(500);
  }
  return state;
}

async function campaign(
  store: "pglite" | "postgres",
  storeIndex: number,
  modelDir: string,
): Promise<StoreResult> {
  const t0 = performance.now();
  const deadline = t0 + DURATION_S * 1000;
  const killEnd = t0 + KILL_SHARE * DURATION_S * 1000;
  const drainEnd = deadline - Math.min(CHECK_RESERVE_S, 0.1 * DURATION_S) * 1000;
  const result: StoreResult = {
    store: store === "pglite" ? "PGlite" : "PostgreSQL",
    kills: noKills(),
    killLog: [],
    jobs: { submitted: 0, succeeded: 0, failed: 0, unfinished: 0, submitErrors: 0 },
    images: { planned: 0, stored: 0, lost: 0, repeated: 0, misplaced: 0 },
    wallS: 0,
    problems: [],
  };
  if (store === "postgres") {
    const skip = await postgresSkip();
    if (skip !== null) {
      log(`PostgreSQL skipped: ${skip}`);
      result.skipped = skip;
      return result;
    }
  }
  const dir = await mkdtemp(join(tmpdir(), `diffda-chaos-${store}-`));
  let storeEnv: Record<string, string> = { DIFFDA_DATA_DIR: join(dir, "data") };
  let admin: pg.Client | undefined;
  let schema = "";
  if (store === "postgres") {
    admin = new pg.Client({ connectionString: DATABASE_URL, connectionTimeoutMillis: 5_000 });
    await admin.connect();
    schema = `diffda_chaos_${randomBytes(6).toString("hex")}`;
    await admin.query(`create schema ${schema}`);
    storeEnv = { DATABASE_URL, DATABASE_SCHEMA: schema };
  }
  const cluster = await startCluster({
    modelDir,
    storeEnv,
    artifactDir: join(dir, "artifacts"),
    leaseMs: LEASE_MS,
  });
  try {
    log(`${result.store}: processes up after ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const client = createRestClient({ baseUrl: cluster.url, attempts: 12 });
    const rng = new Rng(SEED, storeIndex);
    const submitted: SubmittedJob[] = [];
    let submitting = true;
    let salt = 0;

    const worker = async () => {
      while (submitting && performance.now() < killEnd) {
        let job: SubmittedJob;
        try {
          job = await submitSmallJob(client, ++salt);
        } catch (error) {
          result.jobs.submitErrors++;
          result.problems.push(`submit: ${(error as Error).message}`);
          await sleep(1000);
          continue;
        }
        submitted.push(job);
        await follow(client, job.id, drainEnd);
      }
    };

    const killer = async () => {
      let restartCost = 3; // seconds, updated from the restarts seen
      for (let k = 0; k < KILLS; k++) {
        const left = (killEnd - performance.now()) / 1000;
        if (left <= 1) break;
        // Spread the kills left over the time left, so the last one still falls inside the window.
        const mean = Math.max(0.5, left / (KILLS - k + 1) - restartCost);
        const gap = Math.min(mean * (0.5 + rng.nextFloat()), left - 1);
        await sleep(gap * 1000);
        const target = TARGETS[rng.nextInt(TARGETS.length)];
        const at = performance.now();
        await cluster.killAndRestart(target);
        const restartS = (performance.now() - at) / 1000;
        restartCost = (restartCost + restartS) / 2;
        result.kills[target]++;
        result.killLog.push({ atS: Number(((at - t0) / 1000).toFixed(1)), target, restartS });
        log(`${result.store}: kill ${k + 1}/${KILLS} ${target}, back in ${restartS.toFixed(1)} s`);
      }
      // No kills asked for: a fault-free run of the same length, as a baseline.
      if (KILLS === 0) await sleep(Math.max(0, killEnd - performance.now()));
      submitting = false;
    };

    await Promise.all([killer(), ...Array.from({ length: WORKERS }, worker)]);
    log(`${result.store}: ${submitted.length} jobs submitted, waiting for them to finish`);
    // The workers followed their jobs to the drain bound; check each.
    const checks: JobCheck[] = [];
    for (const job of submitted) {
      const state = await follow(client, job.id, drainEnd);
      if (!isFinalState(state)) {
        result.jobs.unfinished++;
        result.problems.push(`${job.id}: not finished (${state})`);
        continue;
      }
      checks.push(await checkJob(client, job));
    }
    result.jobs.submitted = submitted.length;
    for (const c of checks) {
      if (c.state !== "succeeded") {
        result.jobs.failed++;
        result.problems.push(`${c.id}: ${c.problems.join("; ")}`);
        continue;
      }
      result.jobs.succeeded++;
      result.images.planned += c.planned;
      result.images.stored += c.stored;
      result.images.lost += c.lost;
      result.images.repeated += c.repeated;
      result.images.misplaced += c.misplaced;
      if (c.problems.length > 0) result.problems.push(`${c.id}: ${c.problems.join("; ")}`);
    }
  } finally {
    await cluster.stop();
    if (admin) {
      await admin.query(`drop schema ${schema} cascade`);
      await admin.end();
    }
    await rm(dir, { recursive: true, force: true });
  }
  result.wallS = Number(((performance.now() - t0) / 1000).toFixed(1));
  return result;
}

function table(results: StoreResult[]): string {
  const header = [
    "store",
    "kills gw/ft/genA/genB/cls",
    "jobs sub/ok/fail/unfin",
    "submit err",
    "images planned/stored",
    "lost",
    "repeated",
    "misplaced",
    "wall s",
  ];
  const rows = results.map((r) =>
    r.skipped
      ? [r.store, `skipped: ${r.skipped}`, "", "", "", "", "", "", ""]
      : [
          r.store,
          `${TARGETS.map((t) => r.kills[t]).join("/")} (${r.killLog.length})`,
          `${r.jobs.submitted}/${r.jobs.succeeded}/${r.jobs.failed}/${r.jobs.unfinished}`,
          String(r.jobs.submitErrors),
          `${r.images.planned}/${r.images.stored}`,
          String(r.images.lost),
          String(r.images.repeated),
          String(r.images.misplaced),
          r.wallS.toFixed(1),
        ],
  );
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
  return [line(header), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...rows.map(line)].join("\n");
}

const started = new Date();
const models = await tinyModels();
const results: StoreResult[] = [];
try {
  const stores = STORE === "both" ? (["pglite", "postgres"] as const) : [STORE as "pglite" | "postgres"];
  for (const [i, store] of stores.entries()) results.push(await campaign(store, i, models.root));
} finally {
  await models.remove();
}

process.stdout.write(`chaos: seed ${SEED}, kills ${KILLS}, duration ${DURATION_S} s per store\n`);
process.stdout.write(`${table(results)}\n`);
for (const r of results)
  for (const p of r.problems.slice(0, 20)) process.stdout.write(`  ${r.store}: ${p}\n`);

const out = new URL("../results/chaos.json", import.meta.url);
await mkdir(new URL("./", out), { recursive: true });
await writeFile(
  out,
  `${JSON.stringify(
    { startedAt: started.toISOString(), seed: SEED, kills: KILLS, durationS: DURATION_S, stores: results },
    null,
    2,
  )}\n`,
);

const bad = results.some(
  (r) =>
    r.jobs.failed + r.jobs.unfinished + r.jobs.submitErrors > 0 ||
    r.images.lost + r.images.repeated + r.images.misplaced > 0 ||
    r.problems.length > 0,
);
const code = bad ? 1 : 0;
process.exitCode = code;
// Keep-alive sockets of fetch must not hold the process open once the run is done.
setTimeout(() => process.exit(code), 200).unref();
