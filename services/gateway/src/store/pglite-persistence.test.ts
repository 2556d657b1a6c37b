import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { migrate } from "./migrate.js";
import { MIGRATIONS } from "./migrations/index.js";
import { openPglite } from "./pglite-driver.js";
import { JobStore } from "./store.js";

describe("PGlite in a data directory", () => {
  let dir: string | undefined;
  after(() => (dir === undefined ? undefined : rm(dir, { recursive: true, force: true })));

  it("keeps jobs, leases and events across close and reopen, so a restarted gateway resumes", async () => {
    dir = await mkdtemp(join(tmpdir(), "diffda-pglite-"));
    const dataDir = join(dir, "pglite");
    const retry = { baseMs: 0, factor: 1, capMs: 0, jitter: 0 };

    const before = new JobStore(await openPglite({ dataDir }), { retry });
    assert.deepEqual(await migrate(before.db), { applied: MIGRATIONS.map((m) => m.version) });
    const { job } = await before.jobs.create({
      spec: { method: "da-fusion" },
      tasks: [
        { key: "finetune", kind: "finetune" },
        { key: "generate", kind: "generate", dependsOn: ["finetune"] },
      ],
    });
    const [finetune] = await before.tasks.claim("gateway-1", 1, 60_000);
    await before.tasks.complete(finetune.lease, { adapter: "sha256:ab" });
    const [interrupted] = await before.tasks.claim("gateway-1", 1, 60_000);
    await before.artifacts.put({
      jobId: job.id,
      key: "synthetic/0/0",
      kind: "synthetic",
      sha256: "0".repeat(64),
      bytes: 10,
      path: "00/0",
    });
    await before.close(); // the gateway stops while `generate` runs

    const after = new JobStore(await openPglite({ dataDir }), { retry });
    try {
      assert.deepEqual(await migrate(after.db), { applied: [] });
      assert.equal((await after.jobs.get(job.id))?.state, "running");
      const generate = (await after.tasks.get(interrupted.task.id))!;
      assert.equal(generate.state, "running");
      assert.equal(generate.leaseOwner, "gateway-1");
      assert.deepEqual((await after.tasks.get(finetune.task.id))?.output, { adapter: "sha256:ab" });

      // Its lease runs out; the restarted gateway takes the task back and finishes the job.
      await after.db.query("update tasks set lease_expires_at = now() - interval '1 second'");
      assert.deepEqual((await after.tasks.reclaimExpired()).requeued, [interrupted.task.id]);
      const [resumed] = await after.tasks.claim("gateway-1-restarted", 1, 60_000);
      assert.equal(resumed.lease.attempt, 2);
      const again = await after.artifacts.put({
        jobId: job.id,
        key: "synthetic/0/0",
        kind: "synthetic",
        sha256: "0".repeat(64),
        bytes: 10,
        path: "00/0",
      });
      assert.equal(again.created, false, "the re-run shard does not write its image twice");
      assert.deepEqual(await after.tasks.complete(resumed.lease, { images: 1 }), {
        outcome: "succeeded",
        jobState: "succeeded",
      });
      const types = (await after.events.since(job.id)).map((e) => e.type);
      assert.deepEqual(types.slice(-4), [
        "task.retry_scheduled",
        "task.started",
        "task.succeeded",
        "job.succeeded",
      ]);
    } finally {
      await after.close();
    }
  });
});
