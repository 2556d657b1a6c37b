/**
 * Crash tests with every process real: the gateway, the finetune service, two generation replicas and
 * the classifier each run as their own process on loopback, with the tiny test models. A small DA-Fusion
 * job (textual inversion → img2img shards → train → evaluate) is submitted over REST and followed over
 * SSE by the CLI's client; mid-job one process is SIGKILLed:
 *
 * 1. the gateway, as a replica starts a shard after another shard finished: a new gateway on the same job
 *    store and artifact directory (and the same port, so the SSE follower just reconnects) reclaims the
 *    dead gateway's expired leases and finishes the job;
 * 2. a generation replica, as it starts a shard: the shard is retried on the other replica.
 *
 * Either way the job must succeed with exactly the planned synthetic images: no (job, shard, index) key
 * twice, no image bytes twice in the listing or the archive, every shard complete. The gateway crash runs
 * on both job stores: PGlite in a data directory that the new gateway reopens (the embedded default),
 * and the PostgreSQL at DIFFDA_TEST_DATABASE_URL in a throwaway schema (skipped when nothing listens
 * there). Leases last TASK_LEASE_MS = 3 s here, so the dead gateway's work is reclaimed within seconds.
 * Sets go to the services over the chunked Upload RPCs (UPLOAD_CHUNK_BYTES is small here), which the
 * services' RPC metrics confirm.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import pg from "pg";
import { listArtifacts, submitJob, syntheticZip } from "../cli/client/api.js";
import { followJobEvents } from "../cli/client/events.js";
import { createRestClient, type RestClient } from "../cli/client/rest-client.js";
import type { Artifact, JobEvent } from "../cli/client/types.js";
import { freePort } from "../cli/embedded/ports.js";
import { readZip } from "../services/gateway/src/archive/zip-reader.js";
import { sha256Hex } from "../shared/service/wire/index.js";
import { type GatewayProcess, startGatewayProcess } from "../shared/testing/gateway-process.js";
import { pngTestImage } from "../shared/testing/png-image.js";
import {
  type LogLine,
  metricValue,
  type ServiceProcess,
  startService,
} from "../shared/testing/service-process.js";
import { TINY, TINY_EDIT, type TinyModels, tinyModels } from "./support/models.js";

const DATABASE_URL = process.env.DIFFDA_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
// Uploaded, not built in: a fresh checkout would first spend minutes caching fashion-mnist.
const CLASSES = ["cat", "dog"];
const SHOTS = 2; // train images per class; one more per class is held out for evaluation
const PER_REAL = 4;
const SHARD_SIZE = 2;
const EXPECTED = CLASSES.length * SHOTS * PER_REAL; // 16 images in 8 shards
const SHARDS = EXPECTED / SHARD_SIZE;
const LEASE_MS = 3000;
const JOB_TIMEOUT_MS = 300_000;

/** Where the gateways keep their jobs: a Postgres schema of its own, or a PGlite data directory. */
interface StoreTarget {
  readonly name: string;
  readonly env: Record<string, string>;
  close(): Promise<void>;
}

/** Whether the test Postgres answers; decided before the tests are defined so a skip shows its reason. */
async function postgresSkip(): Promise<string | false> {
  const probe = new pg.Client({ connectionString: DATABASE_URL, connectionTimeoutMillis: 5_000 });
  try {
    await probe.connect();
    await probe.end();
    return false;
  } catch (error) {
    // Only "nothing listens" skips: a wrong password or database must fail, not go green.
    if ((error as { code?: string }).code === "ECONNREFUSED")
      return `PostgreSQL not reachable at ${DATABASE_URL}`;
    throw error;
  }
}

async function postgresTarget(): Promise<StoreTarget> {
  const admin = new pg.Client({ connectionString: DATABASE_URL, connectionTimeoutMillis: 5_000 });
  await admin.connect();
  const schema = `diffda_crash_${randomBytes(6).toString("hex")}`;
  await admin.query(`create schema ${schema}`);
  return {
    name: `PostgreSQL (schema ${schema})`,
    env: { DATABASE_URL, DATABASE_SCHEMA: schema },
    async close() {
      await admin.query(`drop schema ${schema} cascade`);
      await admin.end();
    },
  };
}

const skipPostgres = await postgresSkip();

/** The job's events as the SSE follower received them. */
class EventLog {
  readonly events: JobEvent[] = [];

  add(event: JobEvent): void {
    this.events.push(event);
  }

  of(type: string): JobEvent[] {
    return this.events.filter((e) => e.type === type);
  }
}

const shardOf = (key: string): number => Number(/:shard=(\d+)$/.exec(key)?.[1]);

describe("SIGKILL mid-job: every process real, the job finishes with each synthetic image once", () => {
  let models: TinyModels;
  let dir: string;
  const stores: StoreTarget[] = [];
  let finetune: ServiceProcess;
  let replicas: ServiceProcess[];
  let classifier: ServiceProcess;
  const gateways: GatewayProcess[] = [];

  before(async () => {
    models = await tinyModels();
    dir = await mkdtemp(join(tmpdir(), "diffda-crash-"));
    const env = { MODEL_DIR: models.root, ORT_THREADS: "1" };
    [finetune, classifier, ...replicas] = await Promise.all([
      startService("finetune", env),
      startService("classifier", { ORT_THREADS: "1" }),
      startService("generation", env),
      startService("generation", env),
    ]);
    await Promise.all([finetune, classifier, ...replicas].map((s) => s.ready(120_000)));
  });

  after(async () => {
    await Promise.all(gateways.map((g) => g.stop(5_000)));
    await Promise.all([finetune, classifier, ...(replicas ?? [])].filter(Boolean).map((s) => s.stop(5_000)));
    for (const store of stores) await store.close();
    await models?.remove();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** PGlite in a data directory of its own under the test's folder. */
  function pgliteTarget(name: string): StoreTarget {
    return { name: `PGlite (${name})`, env: { DIFFDA_DATA_DIR: join(dir, name) }, close: async () => {} };
  }

  /** A gateway over `store` and its artifact directory, on `port`. */
  async function gateway(store: StoreTarget, port: number): Promise<GatewayProcess> {
    const started = await startGatewayProcess({
      PORT: String(port),
      ...store.env,
      ARTIFACT_DIR: join(dir, store.name.replace(/\W+/g, "-"), "artifacts"),
      FINETUNE_ADDRESS: finetune.address,
      GENERATION_ADDRESSES: replicas.map((r) => r.address).join(","),
      GENERATION_CONCURRENCY: "1",
      CLASSIFIER_ADDRESS: classifier.address,
      BASE_MODEL: TINY,
      INSTRUCT_MODEL: TINY_EDIT,
      TASK_LEASE_MS: String(LEASE_MS),
      SSE_POLL_MS: "100",
      UPLOAD_CHUNK_BYTES: "1024",
      DRAIN_GRACE_MS: "0",
    });
    gateways.push(started);
    return started;
  }

  async function submit(client: RestClient): Promise<string> {
    const images = [];
    for (const [c, label] of CLASSES.entries()) {
      for (let i = 0; i <= SHOTS; i++)
        images.push({
          label,
          data: Buffer.from((await pngTestImage(32, 10 * c + i)).data).toString("base64"),
        });
    }
    const dataset = await client.json<{ id: string; trainCount: number }>({
      method: "POST",
      path: "/v1/datasets",
      json: { name: "crash", images, size: 32, testFraction: 1 / (SHOTS + 1) },
    });
    assert.equal(dataset.trainCount, CLASSES.length * SHOTS);
    const job = await submitJob(client, {
      datasetId: dataset.id,
      methods: [
        {
          preset: "da-fusion",
          finetuning: { textualInversion: { maxTrainSteps: 3 } },
          generation: { syntheticPerReal: PER_REAL, strength: 0.6, sampling: { numInferenceSteps: 200 } },
        },
      ],
      baselines: [],
      classifier: { epochs: 1, batchSize: 8, imageSize: 16 },
      shardSize: SHARD_SIZE,
    });
    return job.id;
  }

  /** The assertions both crashes share: the job succeeded with every planned image stored exactly once. */
  async function assertEveryImageOnce(client: RestClient, jobId: string): Promise<Record<number, number>> {
    const job = await client.json<{
      state: string;
      result: { methods: { label: string; runs: { syntheticImages: number }[] }[] };
    }>({ method: "GET", path: `/v1/jobs/${jobId}` });
    assert.equal(job.state, "succeeded");
    const listed: Artifact[] = await listArtifacts(client, jobId, { prefix: "synthetic/" });
    assert.equal(listed.length, EXPECTED, "synthetic images stored");
    const keys = listed.map((a) => {
      const meta = a.meta as { shardIndex: number; sampleIndex: number };
      return `${jobId}/${meta.shardIndex}/${meta.sampleIndex}`;
    });
    assert.equal(new Set(keys).size, EXPECTED, "no (job, shard, index) twice");
    assert.equal(new Set(listed.map((a) => a.sha256)).size, EXPECTED, "no image bytes twice");
    const perShard: Record<number, number> = {};
    for (const a of listed) {
      const { shardIndex, sampleIndex } = a.meta as { shardIndex: number; sampleIndex: number };
      assert.equal(Math.floor(sampleIndex / SHARD_SIZE), shardIndex, `sample ${sampleIndex} in its shard`);
      perShard[shardIndex] = (perShard[shardIndex] ?? 0) + 1;
    }
    assert.deepEqual(
      perShard,
      Object.fromEntries(Array.from({ length: SHARDS }, (_, k) => [k, SHARD_SIZE])),
      "every shard complete",
    );
    // The archive a client downloads says the same.
    const zip = new Uint8Array(await (await syntheticZip(client, jobId)).arrayBuffer());
    const entries = await readZip(zip, {
      maxEntries: 1000,
      maxEntryBytes: 1 << 20,
      maxTotalBytes: 1 << 26,
      maxRatio: 1000,
    });
    const images = entries.filter((e) => e.name.endsWith(".png"));
    assert.equal(images.length, EXPECTED, "images in synthetic.zip");
    assert.equal(
      new Set(images.map((e) => sha256Hex(e.bytes))).size,
      EXPECTED,
      "no image bytes twice in the zip",
    );
    const manifest = JSON.parse(
      Buffer.from(entries.find((e) => e.name === "manifest.json")?.bytes ?? []).toString(),
    ) as { images: unknown[] };
    assert.equal(manifest.images.length, EXPECTED);
    // The classifier trained on exactly that set.
    assert.equal(job.result.methods[0].runs[0].syntheticImages, EXPECTED);
    return perShard;
  }

  /**
   * Resolves with the first `shard_started` line of job `jobId` on one of `on` once some shard of the job
   * completed (on any replica): the replica has just taken a shard and will be busy with it for a while.
   * The replicas' own logs say this the moment it happens, unlike the gateway's throttled progress events.
   */
  function nextShardStart(jobId: string, on: readonly ServiceProcess[]): Promise<LogLine> {
    const someShardDone = () =>
      replicas.some((r) =>
        r.logs.some((l) => l.event === "shard_ended" && l.job_id === jobId && l.outcome === "ok"),
      );
    const match = (l: LogLine) => l.event === "shard_started" && l.job_id === jobId && someShardDone();
    return Promise.race(on.map((r) => r.waitForLog(match, JOB_TIMEOUT_MS)));
  }

  for (const kind of ["PGlite", "PostgreSQL"] as const) {
    it(
      `the gateway (${kind}): a new one on the same store reclaims the dead one's leases and finishes the job`,
      { skip: kind === "PostgreSQL" ? skipPostgres : false },
      () => gatewayCrash(kind),
    );
  }

  async function gatewayCrash(kind: "PGlite" | "PostgreSQL"): Promise<void> {
    const started = performance.now();
    const store = kind === "PostgreSQL" ? await postgresTarget() : pgliteTarget("pglite");
    stores.push(store);
    const port = await freePort();
    let current = await gateway(store, port);
    // Enough patience to ride out the restart (about a minute of retries).
    const client = createRestClient({ baseUrl: current.url, attempts: 12 });
    const jobId = await submit(client);
    const log = new EventLog();
    let restarted = false;
    const crash = nextShardStart(jobId, replicas).then(async (line) => {
      await current.kill();
      current = await gateway(store, port);
      restarted = true;
      return line;
    });
    // Together, so that a failed restart fails the test at once rather than after the client's retries.
    const [followed, killedDuring] = await Promise.all([
      followJobEvents(client, jobId, {
        signal: AbortSignal.timeout(JOB_TIMEOUT_MS),
        reconnectDelayMs: 200,
        onEvent: (event) => log.add(event),
      }),
      crash,
    ]);
    assert.equal(followed.finalType, "job.succeeded");
    assert.ok(restarted && followed.connections >= 2, "the event stream resumed on the new gateway");

    // Every task the dead gateway had started either succeeded before it died or had its lease expire
    // and be reclaimed (lease_expired, same attempt); each reclaimed one then succeeded under a new owner.
    const killedOwner = log.of("task.started")[0]?.data.owner;
    const attemptsOf = (type: string, match: (e: JobEvent) => boolean = () => true) =>
      new Set(
        log
          .of(type)
          .filter(match)
          .map((e) => `${e.data.key}#${e.data.attempt}`),
      );
    const deadStarts = attemptsOf("task.started", (e) => e.data.owner === killedOwner);
    const succeeded = attemptsOf("task.succeeded");
    const reclaimed = attemptsOf(
      "task.retry_scheduled",
      (e) => (e.data.error as { code?: string } | undefined)?.code === "lease_expired",
    );
    const orphaned = [...deadStarts].filter((k) => !succeeded.has(k)).sort();
    assert.ok(
      orphaned.some((k) => shardOf(k.split("#")[0]) === killedDuring.shard_index),
      `the shard starting at the kill (${killedDuring.shard_index}) was orphaned: ${orphaned}`,
    );
    // (A lease of the new gateway may expire too on a starved machine; that is recovery, not a failure.)
    assert.deepEqual(
      [...reclaimed].filter((k) => deadStarts.has(k)).sort(),
      orphaned,
      "every lease the dead gateway held was reclaimed",
    );
    for (const attempt of orphaned) {
      const key = attempt.split("#")[0];
      const last = log
        .of("task.started")
        .filter((e) => e.data.key === key)
        .at(-1);
      assert.ok(last && last.data.owner !== killedOwner, `${key} restarted under a new owner`);
      assert.ok(succeeded.has(`${key}#${last.data.attempt}`), `${key} succeeded after the restart`);
    }
    const perShard = await assertEveryImageOnce(client, jobId);
    await assertUploadsChunked();
    console.log(
      `gateway SIGKILL on ${store.name} as shard ${killedDuring.shard_index} started: images expected ${EXPECTED}, ` +
        `stored ${EXPECTED}, per shard ${JSON.stringify(perShard)}, duplicates 0, reclaimed ${orphaned.join(" ")}, ` +
        `${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
  }

  it("a generation replica: its shard is retried on the other replica", async () => {
    const started = performance.now();
    const alive = gateways.filter((g) => g.child.exitCode === null && g.child.signalCode === null);
    const current = alive.at(-1) ?? (await gateway(pgliteTarget("pglite-replica"), await freePort()));
    const client = createRestClient({ baseUrl: current.url });
    const jobId = await submit(client);
    const log = new EventLog();
    const victim = replicas[0];
    const crash = nextShardStart(jobId, [victim]).then(async (line) => {
      victim.child.kill("SIGKILL");
      await victim.exited;
      return line;
    });
    const [followed, killedDuring] = await Promise.all([
      followJobEvents(client, jobId, {
        signal: AbortSignal.timeout(JOB_TIMEOUT_MS),
        onEvent: (event) => log.add(event),
      }),
      crash,
    ]);
    assert.equal(followed.finalType, "job.succeeded");
    const key = log.of("task.started").find((e) => shardOf(String(e.data.key)) === killedDuring.shard_index)
      ?.data.key;
    const retried = log.of("task.retry_scheduled").filter((e) => e.data.key === key);
    assert.ok(retried.length > 0, `${key}, running on the killed replica, was retried`);
    assert.ok(
      log.of("task.succeeded").some((e) => e.data.key === key && Number(e.data.attempt) > 1),
      `${key} succeeded on a later attempt`,
    );
    const perShard = await assertEveryImageOnce(client, jobId);
    console.log(
      `generation replica SIGKILL as shard ${killedDuring.shard_index} started: images expected ${EXPECTED}, ` +
        `stored ${EXPECTED}, per shard ${JSON.stringify(perShard)}, duplicates 0, retried ${key}, ` +
        `${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
  });

  /** The finetune and classifier services were fed over their chunked Upload RPCs, never inline. */
  async function assertUploadsChunked(): Promise<void> {
    const calls = async (service: ServiceProcess, name: string, method: string) =>
      metricValue(await service.metrics(), "grpc_server_handled_total", {
        grpc_service: name,
        grpc_method: method,
        grpc_code: "OK",
      }) ?? 0;
    assert.ok((await calls(finetune, "diffda.finetune.v1.FinetuneService", "FinetuneUpload")) >= 1);
    assert.ok((await calls(classifier, "diffda.classifier.v1.ClassifierService", "TrainUpload")) >= 1);
    assert.ok((await calls(classifier, "diffda.classifier.v1.ClassifierService", "EvaluateUpload")) >= 1);
    assert.equal(await calls(classifier, "diffda.classifier.v1.ClassifierService", "Train"), 0);
  }
});
