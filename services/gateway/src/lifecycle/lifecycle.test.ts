import assert from "node:assert/strict";
import { mkdir, readdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { ArtifactStore } from "../artifact-store.js";
import type { JobStore } from "../store/index.js";
import { bearer, idemKey, png, type TestGateway, zipToBuffer } from "../test-support.js";
import { type ComputeGateway, startComputeGateway } from "../testing/compute-gateway.js";
import type { FakeCompute } from "../testing/fake-compute.js";
import { ArtifactCollector } from "./collector.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Bytes of every blob in the artifact store. */
async function storeBytes(dir: string): Promise<number> {
  const root = join(dir, "sha256");
  let total = 0;
  for (const fan of await readdir(root).catch(() => [] as string[])) {
    for (const name of await readdir(join(root, fan))) total += (await stat(join(root, fan, name))).size;
  }
  return total;
}

describe("lifecycle: DELETE, garbage collection, retention and usage", () => {
  let store: JobStore;
  let gw: TestGateway;
  let compute: FakeCompute;
  let stack: ComputeGateway;
  let collector: ArtifactCollector;
  let localArtifacts: ArtifactStore; // gw.artifacts, as the local store whose files these tests count
  let owner: { headers: { authorization: string }; id: string };
  let other: { headers: { authorization: string }; id: string };

  before(async () => {
    stack = await startComputeGateway({
      app: (deps) => {
        collector = new ArtifactCollector(deps, { graceMs: 0, jobRetentionMs: 0, datasetRetentionMs: 0 });
        return { collector };
      },
    });
    ({ store, gw, compute } = stack);
    localArtifacts = stack.artifacts as ArtifactStore;
    owner = await bearer(store, ["submit", "read"]);
    other = await bearer(store, ["submit", "read"]);
  });

  after(async () => {
    await stack?.close();
  });

  async function upload(seed: number, who = owner) {
    const files = [];
    for (const name of ["shoe", "bag"]) {
      for (let i = 0; i < 3; i++) {
        const bytes = await png(8, 8, (seed * 50 + i * 20 + (name === "bag" ? 7 : 0)) % 256);
        files.push({ name: `${name}/${i}.png`, read: async () => bytes });
      }
    }
    const res = await gw.app.inject({
      method: "POST",
      url: "/v1/datasets?testFraction=0.34",
      headers: { ...who.headers, "content-type": "application/zip", "idempotency-key": idemKey() },
      payload: await zipToBuffer(files),
    });
    assert.equal(res.statusCode, 201, res.body);
    return res.json().id as string;
  }

  const call = (method: "GET" | "DELETE" | "POST", url: string, who = owner, payload?: object) =>
    gw.app.inject({
      method,
      url,
      headers: { ...who.headers, ...(method === "POST" ? { "idempotency-key": idemKey() } : {}) },
      ...(payload ? { payload } : {}),
    });

  async function waitFinal(id: string) {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const job = (await call("GET", `/v1/jobs/${id}`)).json();
      if (["succeeded", "failed", "cancelled"].includes(job.state)) return job;
      assert.ok(Date.now() < deadline, `job still ${job.state}`);
      await sleep(40);
    }
  }

  test("a running job keeps its dataset and artifacts; deleting after it frees the bytes", async () => {
    const datasetId = await upload(1);
    const afterUpload = await storeBytes(localArtifacts.root);
    assert.ok(afterUpload > 0);
    const usage0 = (await call("GET", "/v1/usage")).json();
    assert.equal(usage0.scope, "key");
    assert.equal(usage0.datasets.count, 1);
    assert.ok(usage0.datasets.bytes > 0 && usage0.datasets.bytes <= afterUpload);

    const hold = compute.hold();
    const submitted = await call("POST", "/v1/jobs", owner, {
      datasetId,
      methods: [{ preset: "real-guidance" }],
      baselines: ["no-augmentation"],
      seeds: [0],
    });
    assert.equal(submitted.statusCode, 201, submitted.body);
    const jobId = submitted.json().id as string;

    // While it runs: neither its dataset nor the job can go, and a sweep keeps every referenced blob.
    const inUse = await call("DELETE", `/v1/datasets/${datasetId}`);
    assert.equal(inUse.statusCode, 409, inUse.body);
    assert.equal(inUse.json().code, "dataset_in_use");
    assert.match(inUse.json().detail, new RegExp(jobId));
    const live = await call("DELETE", `/v1/jobs/${jobId}`);
    assert.equal(live.statusCode, 409);
    assert.equal(live.json().code, "job_not_finished");
    const sweep = await collector.sweep();
    assert.equal(sweep.collected, true);
    assert.equal(sweep.blobsDeleted, 0);
    assert.equal(await storeBytes(localArtifacts.root), afterUpload);

    hold.release();
    const job = await waitFinal(jobId);
    assert.equal(job.state, "succeeded", JSON.stringify(job.error));
    const withJob = await storeBytes(localArtifacts.root);
    assert.ok(withJob > afterUpload, "the job stored artifacts");
    // Every artifact of the finished job is still readable after another sweep.
    await collector.sweep();
    const artifacts = await store.artifacts.list(jobId);
    assert.ok(artifacts.length > 0);
    for (const artifact of artifacts) assert.ok(await gw.artifacts.has(artifact.sha256), artifact.key);
    const usage1 = (await call("GET", "/v1/usage")).json();
    assert.equal(usage1.jobs.count, 1);
    assert.equal(
      usage1.jobs.bytes,
      artifacts.reduce((sum, a) => sum + a.bytes, 0),
    );

    // Someone else's job and dataset do not exist for another key.
    assert.equal((await call("DELETE", `/v1/jobs/${jobId}`, other)).statusCode, 404);
    assert.equal((await call("DELETE", `/v1/datasets/${datasetId}`, other)).statusCode, 404);

    const deleted = await call("DELETE", `/v1/jobs/${jobId}`);
    assert.equal(deleted.statusCode, 204, deleted.body);
    assert.equal(deleted.body, "");
    assert.equal((await call("GET", `/v1/jobs/${jobId}`)).statusCode, 404);
    assert.equal((await call("DELETE", `/v1/jobs/${jobId}`)).statusCode, 404);
    assert.equal(
      await storeBytes(localArtifacts.root),
      afterUpload,
      "the job's artifacts were freed, the dataset kept",
    );
    assert.equal((await store.artifacts.list(jobId)).length, 0);

    const gone = await call("DELETE", `/v1/datasets/${datasetId}`);
    assert.equal(gone.statusCode, 204, gone.body);
    assert.equal((await call("GET", `/v1/datasets/${datasetId}`)).statusCode, 404);
    assert.equal(await storeBytes(localArtifacts.root), 0);
    const usage2 = (await call("GET", "/v1/usage")).json();
    assert.deepEqual(
      { d: usage2.datasets, j: usage2.jobs, b: usage2.distinctBytes },
      { d: { count: 0, bytes: 0 }, j: { count: 0, bytes: 0 }, b: 0 },
    );
  });

  test("a finished job keeps its result when its dataset goes; shared content stays while referenced", async () => {
    const first = await upload(2);
    const twin = await upload(2, other); // identical images: the same blobs
    const bytes = await storeBytes(localArtifacts.root);
    const submitted = await call("POST", "/v1/jobs", owner, {
      datasetId: first,
      methods: [{ preset: "real-guidance" }],
      baselines: ["no-augmentation"],
      seeds: [0],
    });
    assert.equal(submitted.statusCode, 201, submitted.body);
    const job = await waitFinal(submitted.json().id);
    assert.equal(job.state, "succeeded");

    assert.equal((await call("DELETE", `/v1/datasets/${first}`)).statusCode, 204);
    const kept = (await call("GET", `/v1/jobs/${job.id}`)).json();
    assert.equal(kept.datasetId, null);
    assert.deepEqual(kept.result, job.result);
    assert.ok((await storeBytes(localArtifacts.root)) >= bytes, "the twin dataset still holds every image");
    const files = (await call("GET", `/v1/datasets/${twin}/files`, other)).json();
    for (const file of files.items) assert.ok(await gw.artifacts.has(file.sha256));

    assert.equal((await call("DELETE", `/v1/datasets/${twin}`, other)).statusCode, 204);
    assert.equal((await call("DELETE", `/v1/jobs/${job.id}`)).statusCode, 204);
    assert.equal(await storeBytes(localArtifacts.root), 0);
  });

  test("only an admin deletes a shared built-in; a non-admin gets 403 and the dataset stays", async () => {
    const admin = await bearer(store, ["admin"]);
    const created = await call("POST", "/v1/datasets", admin, { builtin: "fashion-mnist", shots: 2 });
    assert.equal(created.statusCode, 201, created.body);
    const id = created.json().id;
    // A built-in made by an admin key belongs to that key; make it shared as the embedded mode does.
    await store.db.query("update datasets set api_key_id = null where id = $1", [id]);
    const refused = await call("DELETE", `/v1/datasets/${id}`);
    assert.equal(refused.statusCode, 403);
    assert.equal(refused.json().code, "forbidden");
    assert.equal((await call("GET", `/v1/datasets/${id}`)).statusCode, 200);
    assert.equal((await call("DELETE", `/v1/datasets/${id}`, admin)).statusCode, 204);
  });

  test("a sweep collects orphans and stale temp files, honours the grace, and waits for unindexed datasets", async () => {
    const orphan = await gw.artifacts.put(Buffer.from("written, then the process died before its row"));
    await mkdir(join(localArtifacts.root, "tmp"), { recursive: true });
    await writeFile(join(localArtifacts.root, "tmp", "half-written"), "partial");
    const graceful = new ArtifactCollector(
      { store, artifacts: gw.artifacts },
      { graceMs: 3_600_000, jobRetentionMs: 0, datasetRetentionMs: 0 },
    );
    assert.equal((await graceful.sweep()).blobsDeleted, 0, "younger than the grace");
    assert.ok(await gw.artifacts.has(orphan.sha256));

    // A dataset stored before blob listing: nothing is collected until its manifest has been read.
    const datasetId = await upload(3);
    await store.db.query("delete from dataset_blobs where dataset_id = $1", [datasetId]);
    await store.db.query("update datasets set blobs_indexed = false where id = $1", [datasetId]);
    assert.deepEqual(await collector.free([orphan.sha256]), { blobsDeleted: 0, bytesFreed: 0 });

    const later = Date.now() + 7_200_000;
    const report = await graceful.sweep(later);
    assert.equal(report.collected, true);
    assert.equal(report.blobsDeleted, 1, "only the orphan");
    assert.equal(report.tempFilesRemoved, 1);
    assert.equal(await gw.artifacts.has(orphan.sha256), false);
    const files = (await call("GET", `/v1/datasets/${datasetId}/files`)).json();
    assert.equal(files.items.length, 6);
    for (const file of files.items) assert.ok(await gw.artifacts.has(file.sha256));
    const usage = (await call("GET", "/v1/usage")).json();
    assert.ok(usage.datasets.bytes > 0, "the indexed dataset's bytes are counted again");

    // Reusing a blob touches it: a collection inside the grace after the reuse keeps it.
    assert.equal((await call("DELETE", `/v1/datasets/${datasetId}`)).statusCode, 204);
    assert.equal(await storeBytes(localArtifacts.root), 0);
  });

  test("retention deletes finished jobs and unused uploads past their age, never live ones", async () => {
    const datasetId = await upload(4);
    const submitted = await call("POST", "/v1/jobs", owner, {
      datasetId,
      methods: [{ preset: "real-guidance" }],
      baselines: ["no-augmentation"],
      seeds: [0],
    });
    assert.equal(submitted.statusCode, 201, submitted.body);
    const job = await waitFinal(submitted.json().id);
    assert.equal(job.state, "succeeded");
    const hold = compute.hold();
    const running = await call("POST", "/v1/jobs", owner, {
      datasetId,
      methods: [{ preset: "real-guidance" }],
      baselines: [],
      seeds: [0],
    });
    assert.equal(running.statusCode, 201, running.body);
    const retention = new ArtifactCollector(
      { store, artifacts: gw.artifacts },
      { graceMs: 0, jobRetentionMs: 86_400_000, datasetRetentionMs: 86_400_000 },
    );
    assert.deepEqual(
      { jobs: (await retention.sweep()).jobsDeleted, datasets: 0 },
      { jobs: 0, datasets: 0 },
      "nothing is a day old yet",
    );
    const report = await retention.sweep(Date.now() + 2 * 86_400_000);
    assert.equal(report.jobsDeleted, 1, "the finished job only");
    assert.equal(report.datasetsDeleted, 0, "a live job still reads the dataset");
    assert.equal((await call("GET", `/v1/jobs/${job.id}`)).statusCode, 404);
    hold.release();
    const cancelled = await call("POST", `/v1/jobs/${running.json().id}/cancel`);
    assert.ok([200, 409].includes(cancelled.statusCode), cancelled.body);
    await waitFinal(running.json().id);
    const last = await retention.sweep(Date.now() + 2 * 86_400_000);
    assert.equal(last.jobsDeleted, 1);
    assert.equal(last.datasetsDeleted, 1);
    assert.equal(await storeBytes(localArtifacts.root), 0);
  });

  test("bad ids are 404s and a DELETE needs the submit scope", async () => {
    assert.equal((await call("DELETE", "/v1/jobs/not-a-uuid")).statusCode, 404);
    assert.equal((await call("DELETE", "/v1/datasets/00000000-0000-4000-8000-000000000000")).statusCode, 404);
    const reader = await bearer(store, ["read"]);
    const datasetId = await upload(5);
    const res = await call("DELETE", `/v1/datasets/${datasetId}`, reader);
    assert.equal(res.statusCode, 403);
    assert.equal((await call("DELETE", `/v1/datasets/${datasetId}`)).statusCode, 204);
  });
});
