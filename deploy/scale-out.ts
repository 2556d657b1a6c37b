/**
 * Scale-out run on loopback (`npm run scale-out`): the gateway as its own process with three generation
 * replicas (separate processes, different ports, listed in GENERATION_ADDRESSES) and a classifier; one
 * job is submitted, one generation replica is killed (SIGKILL) while it generates a shard, and the run
 * checks that the job still succeeds with every synthetic image stored exactly once. Prints per-replica
 * image counts. Uses the tiny test models (no model kit needed); exits non-zero on any failure.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { type ServiceProcess, startService } from "../shared/testing/service-process.js";
import { TINY, TINY_EDIT, tinyModels } from "../test/support/models.js";
import { REPO_ROOT } from "./kustomize.js";

const REPLICAS = 3;
const SHARD_SIZE = 4;
const PER_REAL = 5;
const TIMEOUT_MS = 15 * 60_000;

/** Sum of a counter over its label sets in a Prometheus text. */
function counterSum(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) sum += Number(line.split(" ").at(-1));
  }
  return sum;
}

async function startGateway(env: Record<string, string>): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", "services/gateway/src/main.ts"], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the gateway did not start within 60 s")), 60_000);
    lines.on("line", (text) => {
      try {
        const line = JSON.parse(text) as { msg?: string; address?: string };
        if (line.msg === "gateway listening" && line.address) {
          clearTimeout(timer);
          resolve(line.address);
        }
      } catch {
        // not a log line
      }
    });
    child.once("exit", (code) => reject(new Error(`the gateway exited (${code}) before listening`)));
  });
  return { child, url };
}

async function api<T>(base: string, method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: {
      ...(body === undefined ? {} : { "content-type": "application/json" }),
      ...(method === "POST" ? { "idempotency-key": crypto.randomUUID() } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return JSON.parse(text) as T;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<number> {
  const models = await tinyModels();
  const data = await mkdtemp(join(tmpdir(), "diffda-scale-out-"));
  const replicas: ServiceProcess[] = [];
  let classifier: ServiceProcess | undefined;
  let gateway: ChildProcess | undefined;
  try {
    const serviceEnv = { MODEL_DIR: models.root, ORT_THREADS: "1" };
    for (let i = 0; i < REPLICAS; i++) replicas.push(await startService("generation", serviceEnv));
    classifier = await startService("classifier", { ORT_THREADS: "1" });
    await Promise.all([...replicas, classifier].map((s) => s.ready(120_000)));
    const addresses = replicas.map((r) => r.address);
    console.log(`generation replicas: ${addresses.join(", ")}`);
    const started = await startGateway({
      HOST: "127.0.0.1",
      PORT: "0",
      DIFFDA_DATA_DIR: join(data, "db"),
      ARTIFACT_DIR: join(data, "artifacts"),
      GENERATION_ADDRESSES: addresses.join(","),
      GENERATION_CONCURRENCY: "1",
      CLASSIFIER_ADDRESS: classifier.address,
      FINETUNE_ADDRESS: "127.0.0.1:1",
      BASE_MODEL: TINY,
      INSTRUCT_MODEL: TINY_EDIT,
    });
    gateway = started.child;
    const base = started.url;
    console.log(`gateway: ${base}`);

    const dataset = await api<{ id: string }>(base, "POST", "/v1/datasets", {
      builtin: "fashion-mnist",
      shots: 5,
      seed: 0,
      classes: ["sneaker", "bag"],
    });
    const job = await api<{ id: string }>(base, "POST", "/v1/jobs", {
      datasetId: dataset.id,
      methods: [
        {
          preset: "real-guidance",
          generation: { syntheticPerReal: PER_REAL, strength: 0.5, sampling: { numInferenceSteps: 4 } },
        },
      ],
      baselines: ["no-augmentation"],
      classifier: { epochs: 2, imageSize: 32 },
      shardSize: SHARD_SIZE,
    });
    console.log(`job ${job.id} submitted`);

    // Kill one replica while it is generating a shard, once some images have been stored.
    const deadline = Date.now() + TIMEOUT_MS;
    const lastCounts = replicas.map(() => 0);
    let killed: number | undefined;
    let state = "";
    while (Date.now() < deadline) {
      const jobNow = await api<{ state: string }>(base, "GET", `/v1/jobs/${job.id}`);
      state = jobNow.state;
      if (["succeeded", "failed", "cancelled"].includes(state)) break;
      for (const [i, r] of replicas.entries()) {
        if (i === killed) continue;
        const text = await r.metrics().catch(() => "");
        lastCounts[i] = counterSum(text, "diffda_generation_images_total");
        const inFlight = counterSum(text, "diffda_generation_shards_in_flight");
        const total = lastCounts.reduce((a, b) => a + b, 0);
        if (killed === undefined && inFlight > 0 && total >= SHARD_SIZE) {
          r.child.kill("SIGKILL");
          await r.exited;
          killed = i;
          console.log(
            `killed replica ${i} (${r.address}) with a shard in flight, after ${lastCounts[i]} images from it, ${total} in all`,
          );
        }
      }
      await sleep(100);
    }
    if (killed === undefined) throw new Error(`no replica was killed before the job ended (${state})`);
    if (state !== "succeeded") throw new Error(`the job ended ${state || "not at all"}`);

    for (const [i, r] of replicas.entries()) {
      if (i !== killed) lastCounts[i] = counterSum(await r.metrics(), "diffda_generation_images_total");
    }
    // Every synthetic image stored, each once: keys are synthetic/<label>/seed=<s>/<shard>/<sample>.
    const keys: string[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await api<{ items: { key: string }[]; nextCursor?: string | null }>(
        base,
        "GET",
        `/v1/jobs/${job.id}/artifacts?prefix=synthetic/&limit=500${after ? `&after=${encodeURIComponent(after)}` : ""}`,
      );
      keys.push(...page.items.map((a) => a.key));
      if (page.items.length < 500) break;
      after = page.items.at(-1)!.key;
    }
    const unique = new Set(keys);
    const expected = 2 * 5 * PER_REAL; // 2 classes × 5 shots × syntheticPerReal
    const samples = new Set(keys.map((k) => k.split("/").slice(-2).join("/")));
    console.log("\nper-replica images generated (diffda_generation_images_total):");
    for (const [i, r] of replicas.entries()) {
      console.log(
        `  replica ${i} ${r.address}: ${lastCounts[i]}${i === killed ? " (killed; last scrape)" : ""}`,
      );
    }
    const generated = lastCounts.reduce((a, b) => a + b, 0);
    console.log(`  sum: ${generated} (≥ stored: a killed stream's unsaved images are regenerated)`);
    console.log(
      `stored synthetic images: ${keys.length}, distinct keys: ${unique.size}, distinct (shard, sample): ${samples.size}, expected: ${expected}`,
    );
    const ok = keys.length === expected && unique.size === expected && samples.size === expected;
    console.log(ok ? "OK: no image lost or duplicated" : "FAIL: images lost or duplicated");
    return ok ? 0 : 1;
  } finally {
    if (gateway && gateway.exitCode === null) {
      gateway.kill("SIGTERM");
      await once(gateway, "exit");
    }
    await Promise.all([...replicas, ...(classifier ? [classifier] : [])].map((s) => s.stop(5_000)));
    await models.remove();
    await rm(data, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
