/**
 * The gateway on the S3 store, end to end over fake compute and an in-process S3 server: a job's files
 * land as objects in the bucket (none on disk), downloads are signed links, two gateways over one job
 * store and one bucket serve each other's artifacts, garbage collection works on objects, and a gateway
 * process SIGKILLed in the middle of a multipart upload leaves nothing partial in the bucket.
 */
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { downloadArtifact, listArtifacts } from "../../../cli/client/api.js";
import { createRestClient } from "../../../cli/client/rest-client.js";
import { blobPathOf, sha256Hex } from "./blob-store.js";
import { ArtifactCollector } from "./lifecycle/collector.js";
import type { S3BlobStore } from "./s3-blob-store.js";
import type { Artifact } from "./store/index.js";
import { bearer, idemKey, png, testGateway, zipToBuffer } from "./test-support.js";
import { type ComputeGateway, startComputeGateway } from "./testing/compute-gateway.js";
import { type FakeCompute, startFakeCompute } from "./testing/fake-compute.js";
import { startTestS3, type TestS3 } from "./testing/s3-server.js";

const PREFIX = "e2e/";
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("the gateway on an S3 bucket", () => {
  let s3: TestS3;
  let bucketStore: S3BlobStore;
  let first: ComputeGateway;
  let second: ComputeGateway;
  let collector: ArtifactCollector;
  let jobId: string;
  let datasetId: string;
  let artifacts: Artifact[];
  let dir: string;

  before(async () => {
    s3 = await startTestS3();
    dir = await mkdtemp(join(tmpdir(), "diffda-s3-e2e-"));
    // Tiny parts, so that checkpoints and adapters take the multipart path too.
    bucketStore = s3.store({ prefix: PREFIX, partBytes: 256 });
    first = await startComputeGateway({
      artifacts: bucketStore,
      app: ({ store, artifacts }) => {
        collector = new ArtifactCollector(
          { store, artifacts },
          { graceMs: 0, jobRetentionMs: 0, datasetRetentionMs: 0 },
        );
        return { authMode: "loopback-open", collector };
      },
    });
    // The second replica: its own process state and fake compute, the same job store and bucket.
    second = await startComputeGateway({
      store: first.store,
      artifacts: s3.store({ prefix: PREFIX, partBytes: 256 }),
      app: () => ({ authMode: "loopback-open" }),
    });
    const files = [];
    for (const name of ["shoe", "bag"]) {
      for (let i = 0; i < 3; i++) {
        const bytes = await png(8, 8, (i * 40 + (name === "bag" ? 9 : 0)) % 256);
        files.push({ name: `${name}/${i}.png`, read: async () => bytes });
      }
    }
    const dataset = await first.gw.app.inject({
      method: "POST",
      url: "/v1/datasets?testFraction=0.34",
      headers: { "content-type": "application/zip", "idempotency-key": idemKey() },
      payload: await zipToBuffer(files),
    });
    assert.equal(dataset.statusCode, 201, dataset.body);
    datasetId = dataset.json().id;
    const submitted = await second.gw.app.inject({
      method: "POST",
      url: "/v1/jobs",
      headers: { "idempotency-key": idemKey() },
      payload: { datasetId, methods: [{ preset: "diff-mix" }], baselines: ["no-augmentation"], seeds: [0] },
    });
    assert.equal(submitted.statusCode, 201, submitted.body);
    jobId = submitted.json().id;
    // A generous wait: on a loaded CI machine this job over S3 has taken more than the default 30 s.
    const job = await first.waitFinal(jobId, {}, 120_000);
    assert.equal(job.state, "succeeded", JSON.stringify(job.error));
    artifacts = await first.store.artifacts.list(jobId, { limit: 1000 });
  });

  after(async () => {
    await second?.close();
    await first?.close();
    await s3?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test("synthetic images, adapters and checkpoints are objects in the bucket, nothing is on disk", async () => {
    const kinds = new Set(artifacts.map((a) => a.key.split("/")[0]));
    assert.deepEqual([...kinds].sort(), ["adapter", "checkpoint", "synthetic"]);
    const keys = new Set(await s3.keys(PREFIX));
    for (const artifact of artifacts) {
      assert.ok(keys.has(PREFIX + blobPathOf(artifact.sha256)), artifact.key);
    }
    const dataset = await first.gw.app.inject({ method: "GET", url: `/v1/datasets/${datasetId}/files` });
    for (const file of dataset.json().items) assert.ok(keys.has(PREFIX + blobPathOf(file.sha256)), file.name);
    assert.deepEqual(await first.gw.files(), []);
    assert.deepEqual(await second.gw.files(), []);
  });

  test("a download redirects to a signed URL that needs no key; ?link=true answers it as JSON", async () => {
    const checkpoint = artifacts.find((a) => a.key.startsWith("checkpoint/"));
    assert.ok(checkpoint);
    const url = `/v1/jobs/${jobId}/artifacts/${checkpoint.key}`;
    const res = await second.gw.app.inject({ method: "GET", url });
    assert.equal(res.statusCode, 302, res.body);
    const location = String(res.headers.location);
    assert.ok(location.startsWith(`${s3.endpoint}/${s3.bucket}/${PREFIX}sha256/`), location);
    const fetched = await fetch(location);
    assert.equal(fetched.status, 200);
    const bytes = Buffer.from(await fetched.arrayBuffer());
    assert.equal(sha256Hex(bytes), checkpoint.sha256);
    assert.match(String(fetched.headers.get("content-disposition")), /^attachment; filename="seed=0"$/);

    const link = await first.gw.app.inject({ method: "GET", url: `${url}?link=true` });
    assert.equal(link.statusCode, 200, link.body);
    assert.match(String(link.headers["content-type"]), /^application\/json/);
    const { url: signed, expiresAt } = link.json();
    assert.ok(Date.parse(expiresAt) > Date.now() + 200_000, expiresAt);
    const again = await fetch(signed);
    assert.equal(again.status, 200);
    assert.equal(sha256Hex(Buffer.from(await again.arrayBuffer())), checkpoint.sha256);

    const bad = await first.gw.app.inject({ method: "GET", url: `${url}?link=yes` });
    assert.equal(bad.statusCode, 400);
    const missing = await first.gw.app.inject({ method: "GET", url: `/v1/jobs/${jobId}/artifacts/nope` });
    assert.equal(missing.statusCode, 404);
  });

  test("the CLI's downloads follow the redirect with a key: the key stays with the gateway", async () => {
    const address = await second.gw.app.listen({ host: "127.0.0.1", port: 0 });
    const { token } = await bearer(first.store, ["admin"]); // the job is the local admin's
    const client = createRestClient({ baseUrl: address, apiKey: token });
    const listed = await listArtifacts(client, jobId);
    assert.equal(listed.length, artifacts.length);
    for (const prefix of ["adapter/", "checkpoint/", "synthetic/"]) {
      const artifact = listed.find((a) => a.key.startsWith(prefix));
      assert.ok(artifact, prefix);
      // s3rver refuses a request that carries both a signed query and an Authorization header.
      const bytes = await downloadArtifact(client, artifact);
      assert.equal(sha256Hex(bytes), artifact.sha256, artifact.key);
    }
  });

  test("the synthetic-set exports read their images from the bucket", async () => {
    const synthetic = artifacts.filter((a) => a.key.startsWith("synthetic/"));
    const res = await second.gw.app.inject({ method: "GET", url: `/v1/jobs/${jobId}/synthetic.zip` });
    assert.equal(res.statusCode, 200, res.body);
    const path = join(dir, "set.zip");
    await writeFile(path, res.rawPayload);
    const names = execFileSync("unzip", ["-Z1", path], { encoding: "utf8" }).trim().split("\n");
    assert.equal(names.filter((n) => n.endsWith(".png")).length, synthetic.length);
    const shard = await first.gw.app.inject({
      method: "GET",
      url: `/v1/jobs/${jobId}/synthetic?format=webdataset&shard=0&shardSize=2`,
    });
    assert.equal(shard.statusCode, 200);
    assert.equal(shard.headers["content-type"], "application/x-tar");
  });

  test("with signed downloads off (an S3 endpoint clients cannot reach) the gateway streams the object", async () => {
    const adapter = artifacts.find((a) => a.key.startsWith("adapter/"));
    assert.ok(adapter);
    const unsigned = await testGateway({
      store: first.store,
      artifacts: s3.store({ prefix: PREFIX, partBytes: 256, signLinks: false }),
      authMode: "loopback-open",
    });
    try {
      const url = `/v1/jobs/${jobId}/artifacts/${adapter.key}`;
      const res = await unsigned.app.inject({ method: "GET", url });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(sha256Hex(res.rawPayload), adapter.sha256);
      assert.equal((await unsigned.app.inject({ method: "GET", url: `${url}?link=true` })).statusCode, 422);
    } finally {
      await unsigned.close();
    }
  });

  test("on the local store the same download streams from the gateway and ?link=true is a 422", async () => {
    const adapter = artifacts.find((a) => a.key.startsWith("adapter/"));
    assert.ok(adapter);
    const local = await testGateway({ store: first.store, authMode: "loopback-open" });
    try {
      await local.artifacts.put(await bucketStore.read(adapter.sha256));
      const url = `/v1/jobs/${jobId}/artifacts/${adapter.key}`;
      const res = await local.app.inject({ method: "GET", url });
      assert.equal(res.statusCode, 200);
      assert.equal(sha256Hex(res.rawPayload), adapter.sha256);
      const link = await local.app.inject({ method: "GET", url: `${url}?link=true` });
      assert.equal(link.statusCode, 422, link.body);
      assert.equal(link.json().code, "link_unavailable");
      assert.match(link.json().detail, new RegExp(`download /v1/jobs/${jobId}/artifacts/adapter/`));
    } finally {
      await local.close();
    }
  });

  test("garbage collection on objects: the grace follows LastModified and reuse; DELETE frees a job's objects", async () => {
    const orphan = await bucketStore.put(
      Buffer.from("an orphan: written, then its writer died before the row"),
    );
    const written = await bucketStore.info(orphan.sha256);
    assert.ok(written);
    const graceful = new ArtifactCollector(
      { store: first.store, artifacts: bucketStore },
      { graceMs: 60_000, jobRetentionMs: 0, datasetRetentionMs: 0 },
    );
    assert.equal((await graceful.free([orphan.sha256], written.modifiedMs + 59_000)).blobsDeleted, 0);
    await sleep(20);
    await bucketStore.put(Buffer.from("an orphan: written, then its writer died before the row"));
    const reused = await bucketStore.info(orphan.sha256);
    assert.ok(reused && reused.modifiedMs > written.modifiedMs);
    // Past the first write's grace but not the reuse's: kept.
    assert.equal((await graceful.free([orphan.sha256], written.modifiedMs + 60_001)).blobsDeleted, 0);
    assert.equal(await bucketStore.has(orphan.sha256), true);
    const sweep = await collector.sweep();
    assert.ok(sweep.collected);
    assert.ok(sweep.blobsDeleted >= 1);
    assert.equal(await bucketStore.has(orphan.sha256), false);
    for (const artifact of artifacts) assert.ok(await bucketStore.has(artifact.sha256), artifact.key);

    const datasetFiles = (
      await first.gw.app.inject({ method: "GET", url: `/v1/datasets/${datasetId}/files` })
    ).json().items as { sha256: string }[];
    const datasetKeys = new Set(datasetFiles.map((f) => PREFIX + blobPathOf(f.sha256)));
    // The adapters the job trained are resources of their own (GET /v1/adapters): they outlive the job.
    const trained = new Set(
      (await first.store.adapters.list({ limit: 100 })).items.map((a) => PREFIX + blobPathOf(a.sha256)),
    );
    const jobOnly = artifacts.filter((a) => {
      const key = PREFIX + blobPathOf(a.sha256);
      return !datasetKeys.has(key) && !trained.has(key);
    });
    assert.ok(jobOnly.length > 0);
    const deleted = await first.gw.app.inject({ method: "DELETE", url: `/v1/jobs/${jobId}` });
    assert.equal(deleted.statusCode, 204, deleted.body);
    const keys = new Set(await s3.keys(PREFIX));
    for (const artifact of jobOnly) assert.equal(keys.has(PREFIX + blobPathOf(artifact.sha256)), false);
    for (const key of datasetKeys) assert.ok(keys.has(key), key);
    for (const key of trained) assert.ok(keys.has(key), `the trained adapter ${key} is kept`);
  });
});

describe("a gateway killed mid-upload", () => {
  const ADAPTER_BYTES = 6 * 1024 * 1024 + 17; // over the smallest S3_PART_BYTES: a multipart upload
  let s3: TestS3;
  let compute: FakeCompute;
  let dataDir: string;
  before(async () => {
    s3 = await startTestS3();
    compute = await startFakeCompute({
      classes: 2,
      imageSize: 4,
      timeoutMs: 20_000,
      adapterBytes: ADAPTER_BYTES,
    });
    dataDir = await mkdtemp(join(tmpdir(), "diffda-s3-crash-"));
  });
  after(async () => {
    await compute?.close();
    await s3?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  test("SIGKILL of the gateway process during a multipart put leaves no partial object in the bucket", async () => {
    const hold = s3.holdParts();
    const child = spawn(
      process.execPath,
      ["--import", "tsx", fileURLToPath(new URL("./main.ts", import.meta.url))],
      {
        env: {
          ...process.env,
          ...s3.env,
          S3_PREFIX: "crash/",
          S3_PART_BYTES: String(5 * 1024 * 1024),
          HOST: "127.0.0.1",
          PORT: "0",
          AUTH_MODE: "loopback-open",
          DIFFDA_DATA_DIR: dataDir,
          DATABASE_URL: "",
          FINETUNE_ADDRESS: compute.addresses.finetune,
          GENERATION_ADDRESSES: compute.addresses.generation.join(","),
          CLASSIFIER_ADDRESS: compute.addresses.classifier,
          ARTIFACT_GC_INTERVAL_MS: "0",
          LOG_LEVEL: "info",
        },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
    });
    child.stderr.on("data", (chunk) => {
      stderr += chunk;
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child.once("exit", (_code, signal) => resolve(signal)),
    );
    const deadline = Date.now() + 90_000;
    const until = async (what: string, done: () => boolean) => {
      while (!done()) {
        assert.ok(child.exitCode === null, `the gateway exited while waiting for ${what}: ${stderr}`);
        assert.ok(Date.now() < deadline, `no ${what} in time: ${stdout.slice(-2000)} ${stderr.slice(-2000)}`);
        await sleep(25);
      }
    };
    try {
      await until("listening line", () => /"address":"http:\/\/127\.0\.0\.1:\d+"/.test(stdout));
      const base = /"address":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(stdout)?.[1];
      const files = [];
      for (const name of ["shoe", "bag"]) {
        for (let i = 0; i < 3; i++) {
          const bytes = await png(8, 8, (i * 40 + (name === "bag" ? 9 : 0)) % 256);
          files.push({ name: `${name}/${i}.png`, read: async () => bytes });
        }
      }
      const dataset = await fetch(`${base}/v1/datasets?testFraction=0.34`, {
        method: "POST",
        headers: { "content-type": "application/zip", "idempotency-key": idemKey() },
        body: await zipToBuffer(files),
      });
      assert.equal(dataset.status, 201, await dataset.clone().text());
      const job = await fetch(`${base}/v1/jobs`, {
        method: "POST",
        headers: { "content-type": "application/json", "idempotency-key": idemKey() },
        body: JSON.stringify({
          datasetId: ((await dataset.json()) as { id: string }).id,
          kind: "generate",
          methods: [{ preset: "diff-mix" }],
          seeds: [0],
        }),
      });
      assert.equal(job.status, 201, await job.clone().text());
      // Fine-tuning returned the large adapter; its parts are held at the server, so the upload has
      // begun and cannot complete.
      await until("held part", () => hold.held() >= 1);
      child.kill("SIGKILL");
      assert.equal(await exited, "SIGKILL");
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      hold.release();
    }
    const keys = await s3.keys("crash/");
    assert.ok(keys.length >= 7, `the dataset's images and manifest are there: ${keys.join()}`);
    // Every visible object is whole: its content hashes to the digest its key names, and none is the
    // adapter whose upload was cut.
    for (const key of keys) {
      const digest = key.replace(/^crash\/sha256\/([0-9a-f]{2})\/([0-9a-f]{62})$/, "$1$2");
      const bytes = await s3.store({ prefix: "crash/" }).read(digest);
      assert.equal(sha256Hex(bytes), digest, key);
      assert.notEqual(bytes.length, ADAPTER_BYTES, `${key} is the interrupted adapter`);
    }
    assert.equal(compute.calls.finetune.length, 1);
  });
});
