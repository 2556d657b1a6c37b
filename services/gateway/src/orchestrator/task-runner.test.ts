/**
 * The lease loop against the real store (PGlite in memory), with short leases so expiry, heartbeats and
 * reclaims happen within the test.
 */
import assert from "node:assert/strict";
import { after, before, beforeEach, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { type Database, JobStore, migrate, openPglite, type Task } from "../store/index.js";
import { MAX_ATTEMPTS } from "./planner.js";
import { type TaskHandler, TaskRunner, type TaskRunnerOptions } from "./task-runner.js";

const NO_BACKOFF = { baseMs: 0, factor: 1, capMs: 0, jitter: 0 };
const FAST = { leaseMs: 500, heartbeatMs: 50, pollMs: 10, reclaimMs: 20 };

/** Resolves when `predicate` holds, polling; fails the test after `ms`. */
async function until(predicate: () => boolean | Promise<boolean>, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error("timed out waiting for a condition");
    await sleep(5);
  }
}

/** A handler that waits until aborted and records the abort reason. */
function waitForAbort(reasons: unknown[], started?: () => void): TaskHandler {
  return (_task, { signal }) =>
    new Promise((_resolve, reject) => {
      started?.();
      signal.addEventListener("abort", () => {
        reasons.push(signal.reason);
        reject(new Error("aborted"));
      });
    });
}

describe("TaskRunner", () => {
  let db: Database;
  let store: JobStore;
  const runners: TaskRunner[] = [];
  const runner = (options: Omit<TaskRunnerOptions, "store">) => {
    const created = new TaskRunner({ store: store.tasks, ...FAST, ...options });
    runners.push(created);
    created.start();
    return created;
  };

  before(async () => {
    db = await openPglite();
    await migrate(db);
    store = new JobStore(db, { retry: NO_BACKOFF });
  });
  beforeEach(async () => {
    await Promise.all(runners.splice(0).map((r) => r.stop()));
    await db.exec("truncate job_events, artifacts, task_dependencies, tasks, jobs restart identity cascade");
  });
  after(async () => {
    await Promise.all(runners.splice(0).map((r) => r.stop()));
    await db.close();
  });

  it("runs a job's DAG in dependency order within the concurrency limit of each kind", async () => {
    const log: string[] = [];
    let generating = 0;
    let peak = 0;
    const handler =
      (ms: number): TaskHandler =>
      async (task) => {
        log.push(`start ${task.key}`);
        if (task.kind === "generate") peak = Math.max(peak, ++generating);
        await sleep(ms);
        if (task.kind === "generate") generating--;
        log.push(`end ${task.key}`);
        return {
          output: { key: task.key },
          ...(task.kind === "evaluate" ? { jobResult: { gain: 0.1 } } : {}),
        };
      };
    const { job } = await store.jobs.create({
      spec: {},
      tasks: [
        { key: "finetune", kind: "finetune" },
        ...[0, 1, 2, 3].map((i) => ({ key: `generate:${i}`, kind: "generate", dependsOn: ["finetune"] })),
        { key: "evaluate", kind: "evaluate", dependsOn: [0, 1, 2, 3].map((i) => `generate:${i}`) },
      ],
    });
    runner({
      handlers: { finetune: handler(20), generate: handler(30), evaluate: handler(5) },
      concurrency: { generate: 2 },
    });
    await until(async () => (await store.jobs.get(job.id))?.state === "succeeded");
    assert.equal(peak, 2, "two generate tasks at a time, never more");
    assert.equal(log[0], "start finetune");
    assert.equal(log[1], "end finetune");
    assert.deepEqual(log.slice(-2), ["start evaluate", "end evaluate"]);
    assert.deepEqual((await store.jobs.get(job.id))?.result, { gain: 0.1 });
    assert.deepEqual(
      (await store.tasks.list(job.id)).map((t) => t.output),
      [
        { key: "finetune" },
        { key: "generate:0" },
        { key: "generate:1" },
        { key: "generate:2" },
        { key: "generate:3" },
        { key: "evaluate" },
      ],
    );
  });

  it("retries an UNAVAILABLE failure and fails the job on INVALID_ARGUMENT, aborting its sibling", async () => {
    let calls = 0;
    const flaky = await store.jobs.create({ spec: {}, tasks: [{ key: "shard", kind: "flaky" }] });
    const reasons: unknown[] = [];
    const bad = await store.jobs.create({
      spec: {},
      tasks: [
        { key: "busy", kind: "slow" },
        { key: "bad", kind: "bad", dependsOn: [] },
      ],
    });
    let busyStarted = false;
    runner({
      handlers: {
        flaky: async () => {
          if (++calls === 1) throw Object.assign(new Error("replica gone"), { code: 14 });
          return { output: "ok" };
        },
        slow: waitForAbort(reasons, () => {
          busyStarted = true;
        }),
        bad: async () => {
          await until(() => busyStarted);
          throw Object.assign(new Error("strength must be in [0, 1]"), { code: 3 });
        },
      },
    });
    await until(async () => (await store.jobs.get(flaky.job.id))?.state === "succeeded");
    assert.equal(calls, 2);
    assert.equal((await store.tasks.list(flaky.job.id))[0].attempts, 2);

    await until(async () => (await store.jobs.get(bad.job.id))?.state === "failed");
    await until(() => reasons.length === 1);
    assert.deepEqual(reasons, ["cancelled"]);
    const failed = await store.jobs.get(bad.job.id);
    assert.deepEqual(failed?.error, {
      taskKey: "bad",
      stage: "bad",
      error: { code: 3, message: "strength must be in [0, 1]" },
    });
    assert.equal((await store.tasks.list(bad.job.id)).find((t) => t.key === "bad")?.attempts, 1);
  });

  it("keeps a task that outlives its lease by heartbeating, so no other runner takes it", async () => {
    let calls = 0;
    const { job } = await store.jobs.create({ spec: {}, tasks: [{ key: "long", kind: "train" }] });
    const train: TaskHandler = async () => {
      calls++;
      await sleep(3 * FAST.leaseMs);
      return { output: "trained" };
    };
    runner({ handlers: { train }, owner: "replica-a" });
    runner({ handlers: { train }, owner: "replica-b" });
    await until(async () => (await store.jobs.get(job.id))?.state === "succeeded");
    assert.equal(calls, 1);
    assert.equal((await store.tasks.list(job.id))[0].attempts, 1);
  });

  it("takes over the task of a crashed replica exactly once", async () => {
    const { job } = await store.jobs.create({ spec: {}, tasks: [{ key: "shard", kind: "generate" }] });
    // A replica claims the task and dies: it never heartbeats, completes or releases.
    const [crashed] = await store.tasks.claim("replica-dead", 1, 100);
    const ran: string[] = [];
    const generate: TaskHandler = async (_task, { lease }) => {
      ran.push(lease.owner);
      return { output: { images: 4 } };
    };
    runner({ handlers: { generate }, owner: "replica-b" });
    runner({ handlers: { generate }, owner: "replica-c" });
    await until(async () => (await store.jobs.get(job.id))?.state === "succeeded");
    await sleep(100); // room for a duplicate run to show up
    assert.equal(ran.length, 1, `ran on ${ran}`);
    const task = (await store.tasks.list(job.id))[0];
    assert.equal(task.attempts, 2);
    assert.notEqual(task.leaseOwner, "replica-dead");
    assert.deepEqual(await store.tasks.complete(crashed.lease, {}), { outcome: "lease_lost" });
  });

  it("a planned task outlives three dead gateways and then a service that is down for a while", async () => {
    const { job } = await store.jobs.create({
      spec: {},
      tasks: [{ key: "train", kind: "train", maxAttempts: MAX_ATTEMPTS.train }],
    });
    // Three gateways claim the task in turn and die: no heartbeat, no outcome.
    for (const owner of ["gateway-1", "gateway-2", "gateway-3"]) {
      await store.tasks.claim(owner, 1, 50);
      await sleep(80);
      assert.equal((await store.tasks.reclaimExpired()).requeued.length, 1, owner);
    }
    // Then the classifier is unreachable for 600 ms: every call in that time fails with UNAVAILABLE.
    const downUntil = Date.now() + 600;
    let calls = 0;
    runner({
      handlers: {
        train: async () => {
          calls++;
          await sleep(50);
          if (Date.now() < downUntil) {
            throw Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:50053"), { code: 14 });
          }
          return { output: "trained" };
        },
      },
    });
    await until(async () => (await store.jobs.get(job.id))?.state === "succeeded");
    const [task] = await store.tasks.list(job.id);
    assert.equal(task.leaseLosses, 3);
    assert.ok(task.infraFailures >= 3, `${task.infraFailures} infrastructure failures`);
    assert.equal(task.attempts, 3 + calls);
    assert.deepEqual(task.error, { code: 14, message: "connect ECONNREFUSED <address>" });
  });

  it("aborts a running task when its job is cancelled, locally at once and remotely by heartbeat", async () => {
    const reasons: unknown[] = [];
    const started: string[] = [];
    const local = runner({
      handlers: { gen: waitForAbort(reasons, () => started.push("a")) },
      owner: "replica-a",
    });
    const first = await store.jobs.create({ spec: {}, tasks: [{ key: "s", kind: "gen" }] });
    await until(() => started.length === 1);
    const cancelled = await store.jobs.cancel(first.job.id);
    assert.equal(cancelled.outcome, "cancelled");
    local.abort(cancelled.outcome === "cancelled" ? cancelled.abort : []);
    await until(() => reasons.length === 1);
    assert.equal(reasons[0], "cancelled");

    // Cancelled from another replica: this runner only learns it from a failing heartbeat.
    const second = await store.jobs.create({ spec: {}, tasks: [{ key: "s", kind: "gen" }] });
    await until(() => started.length === 2);
    await store.jobs.cancel(second.job.id);
    await until(() => reasons.length === 2);
    assert.equal(reasons[1], "lease_lost");
    assert.deepEqual(await store.jobs.taskCounts(second.job.id), {
      pending: 0,
      running: 0,
      succeeded: 0,
      failed: 0,
      cancelled: 1,
    });
  });

  it("hands its leases back on shutdown without spending an attempt", async () => {
    const reasons: unknown[] = [];
    let started = false;
    const { job } = await store.jobs.create({ spec: {}, tasks: [{ key: "s", kind: "gen", maxAttempts: 1 }] });
    const draining = runner({
      handlers: {
        gen: waitForAbort(reasons, () => {
          started = true;
        }),
      },
    });
    await until(() => started);
    await draining.stop({ drainMs: 20 });
    assert.deepEqual(reasons, ["shutdown"]);
    const [task] = await store.tasks.list(job.id);
    assert.equal(task.state, "pending");
    assert.equal(task.attempts, 0);

    const done: Task[] = [];
    runner({
      handlers: {
        gen: async (t) => {
          done.push(t);
          return { output: null };
        },
      },
    });
    await until(async () => (await store.jobs.get(job.id))?.state === "succeeded");
    assert.equal(done.length, 1);
  });
});
