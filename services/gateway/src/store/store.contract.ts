/**
 * The store's behaviour, written once and run against every driver (store.pglite.test.ts,
 * store.postgres.test.ts). Each test starts from empty tables.
 */
import assert from "node:assert/strict";
import { beforeEach, describe, it } from "node:test";
import { json, sqlState } from "./driver.js";
import { StoreError } from "./errors.js";
import type { NewTask } from "./jobs.js";
import { migrate } from "./migrate.js";
import { MIGRATIONS } from "./migrations/index.js";
import type { RetryPolicy } from "./retry-policy.js";
import { JobStore, type JobStoreOptions } from "./store.js";
import { sleep, type Target } from "./test-support.js";
import type { ClaimedTask } from "./types.js";

const LEASE_MS = 30_000;
const NO_JITTER: RetryPolicy = { baseMs: 60_000, factor: 2, capMs: 600_000, jitter: 0 };

/** Defines the contract tests; `target()` is read when each test runs (after the caller's `before`). */
export function storeContract(target: () => Target): void {
  const store = (options: JobStoreOptions = {}) => new JobStore(target().db, options);
  const q = <R extends Record<string, unknown>>(sql: string, params?: unknown[]) =>
    target().db.query<R>(sql, params);
  const expireLease = (taskId: string) =>
    q("update tasks set lease_expires_at = now() - interval '1 second' where id = $1", [taskId]);
  const makeDue = (taskId: string) => q("update tasks set run_after = now() where id = $1", [taskId]);
  const keys = (claimed: ClaimedTask[]) => claimed.map((c) => c.task.key).sort();
  const chain: NewTask[] = [
    { key: "finetune", kind: "finetune" },
    { key: "generate:shard=0", kind: "generate", dependsOn: ["finetune"] },
    { key: "generate:shard=1", kind: "generate", dependsOn: ["finetune"] },
    { key: "evaluate", kind: "evaluate", dependsOn: ["generate:shard=0", "generate:shard=1"] },
  ];

  beforeEach(() => target().reset());

  describe("driver", () => {
    it("maps int8, jsonb, timestamptz(3) and text[] the same way on every driver", async () => {
      const when = new Date("2024-02-29T12:34:56.789Z");
      const { rows } = await q(
        `select 9007199254740991::int8 as big, count(*) as n, $1::jsonb as obj, $2::jsonb as arr,
                $3::jsonb as str, $4::jsonb as nothing, $5::timestamptz(3) as at, $6::text[] as list,
                '{}'::text[] as empty`,
        [json({ a: [1, { b: null }] }), json([1, "two"]), json("x"), json(null), when, ["a", "b,c", 'd"e']],
      );
      assert.deepEqual(rows[0], {
        big: Number.MAX_SAFE_INTEGER,
        n: 1,
        obj: { a: [1, { b: null }] },
        arr: [1, "two"],
        str: "x",
        nothing: null,
        at: when,
        list: ["a", "b,c", 'd"e'],
        empty: [],
      });
      await assert.rejects(q("select 9007199254740993::int8 as big"), RangeError);
    });

    it("counts rows the same way: affected by DML, read by SELECT", async () => {
      const { db } = target();
      await db.exec("create temporary table counted (n int)");
      try {
        assert.equal((await db.query("insert into counted select generate_series(1, 3)")).rowCount, 3);
        assert.equal((await db.query("update counted set n = n + 1 where n > 1")).rowCount, 2);
        assert.equal((await db.query("delete from counted where n = 4 returning n")).rowCount, 1);
        assert.equal((await db.query("select * from counted")).rowCount, 2);
      } finally {
        await db.exec("drop table counted");
      }
    });

    it("commits a transaction, rolls back on error, and exposes the SQLSTATE", async () => {
      const { db } = target();
      const apiKey = "00000000-0000-4000-8000-000000000001";
      const insert = "insert into api_keys (id, name, secret_sha256) values ($1, 'k', repeat('0', 64))";
      await db.transaction((tx) => tx.query(insert, [apiKey]));
      const error = await db
        .transaction(async (tx) => {
          await tx.query("update api_keys set name = 'renamed' where id = $1", [apiKey]);
          await tx.query(insert, [apiKey]);
        })
        .catch((e: unknown) => e);
      assert.equal(sqlState(error), "23505");
      const { rows } = await db.query<{ name: string }>("select name from api_keys");
      assert.deepEqual(rows, [{ name: "k" }]);
    });
  });

  describe("migrations", () => {
    it("are idempotent: a second run applies nothing", async () => {
      assert.deepEqual(await migrate(target().db), { applied: [] });
      const { rows } = await q<{ version: number }>("select version from schema_migrations order by version");
      assert.deepEqual(
        rows.map((row) => row.version),
        MIGRATIONS.map((m) => m.version),
      );
    });

    it("refuse to start when an applied migration was edited", async () => {
      await q("update schema_migrations set checksum = 'edited' where version = 1");
      try {
        await assert.rejects(
          migrate(target().db),
          (e: unknown) => e instanceof StoreError && e.code === "migration_checksum",
        );
      } finally {
        await q("update schema_migrations set checksum = $1 where version = 1", [
          (await import("node:crypto")).createHash("sha256").update(MIGRATIONS[0].sql).digest("hex"),
        ]);
      }
    });

    it("run safely from two connections at once on an empty database", async () => {
      const [a, b] = await target().fresh();
      const results = await Promise.all([migrate(a), migrate(b)]);
      assert.deepEqual(
        results.map((r) => r.applied).sort((x, y) => y.length - x.length),
        [MIGRATIONS.map((m) => m.version), []],
      );
      const { rows } = await a.query<{ n: number }>("select count(*) as n from schema_migrations");
      assert.equal(rows[0].n, MIGRATIONS.length);
    });
  });

  describe("jobs and the task DAG", () => {
    it("stores a job with its tasks and dependencies in one transaction", async () => {
      const s = store();
      const { job, tasks } = await s.jobs.create({ spec: { method: "diff-mix" }, tasks: chain });
      assert.equal(job.state, "queued");
      assert.deepEqual(job.spec, { method: "diff-mix" });
      assert.deepEqual(
        tasks.map((t) => [t.key, t.state, t.attempts, t.maxAttempts, t.dependsOn]),
        [
          ["finetune", "pending", 0, 3, []],
          ["generate:shard=0", "pending", 0, 3, ["finetune"]],
          ["generate:shard=1", "pending", 0, 3, ["finetune"]],
          ["evaluate", "pending", 0, 3, ["generate:shard=0", "generate:shard=1"]],
        ],
      );
      assert.deepEqual(await s.jobs.get(job.id), job);
      assert.deepEqual(await s.tasks.list(job.id), tasks);
      assert.deepEqual(await s.jobs.taskCounts(job.id), {
        pending: 4,
        running: 0,
        succeeded: 0,
        failed: 0,
        cancelled: 0,
      });
    });

    it("rejects an invalid DAG and stores nothing", async () => {
      const s = store();
      const bad: NewTask[][] = [
        [],
        [
          { key: "a", kind: "x" },
          { key: "a", kind: "x" },
        ],
        [{ key: "a", kind: "x", dependsOn: ["missing"] }],
        [
          { key: "a", kind: "x", dependsOn: ["b"] },
          { key: "b", kind: "x", dependsOn: ["a"] },
        ],
      ];
      for (const tasks of bad) {
        await assert.rejects(
          s.jobs.create({ spec: {}, tasks }),
          (e: unknown) => e instanceof StoreError && e.code === "invalid_dag",
        );
      }
      const { rows } = await q<{ n: number }>("select count(*) as n from jobs");
      assert.equal(rows[0].n, 0);
    });

    it("makes a task claimable only once every dependency succeeded", async () => {
      const s = store();
      const { job } = await s.jobs.create({ spec: {}, tasks: chain });
      const first = await s.tasks.claim("w", 10, LEASE_MS);
      assert.deepEqual(keys(first), ["finetune"]);
      assert.deepEqual(await s.tasks.claim("w", 10, LEASE_MS), [], "nothing else while finetune runs");
      assert.equal((await s.jobs.get(job.id))?.state, "running");
      await s.tasks.complete(first[0].lease, { adapter: "sha" });

      const shards = await s.tasks.claim("w", 10, LEASE_MS);
      assert.deepEqual(keys(shards), ["generate:shard=0", "generate:shard=1"]);
      assert.deepEqual(await s.tasks.complete(shards[0].lease, { images: 8 }), {
        outcome: "succeeded",
        jobState: "running",
      });
      assert.deepEqual(await s.tasks.claim("w", 10, LEASE_MS), [], "evaluate waits for the second shard");
      await s.tasks.fail(shards[1].lease, { code: "UNAVAILABLE" }, { retryable: true });
      await makeDue(shards[1].task.id);
      const retried = await s.tasks.claim("w", 10, LEASE_MS);
      assert.deepEqual(keys(retried), ["generate:shard=1"], "a retrying dependency still blocks evaluate");
      await s.tasks.complete(retried[0].lease, { images: 8 });

      const last = await s.tasks.claim("w", 10, LEASE_MS);
      assert.deepEqual(keys(last), ["evaluate"]);
      assert.deepEqual(await s.tasks.complete(last[0].lease, { top1: 0.9 }, { jobResult: { gain: 0.05 } }), {
        outcome: "succeeded",
        jobState: "succeeded",
      });
      const done = await s.jobs.get(job.id);
      assert.equal(done?.state, "succeeded");
      assert.deepEqual(done?.result, { gain: 0.05 });
      assert.ok(done?.finishedAt instanceof Date);
      assert.deepEqual((await s.tasks.get(last[0].task.id))?.output, { top1: 0.9 });
    });

    it("claims only the requested kinds, up to the limit, in submission order", async () => {
      const s = store();
      await s.jobs.create({
        spec: {},
        tasks: [
          { key: "t0", kind: "train" },
          ...[0, 1, 2, 3].map((i) => ({ key: `g${i}`, kind: "generate" })),
        ],
      });
      const generated = await s.tasks.claim("w", 3, LEASE_MS, ["generate"]);
      assert.deepEqual(
        generated.map((c) => c.task.key),
        ["g0", "g1", "g2"],
      );
      assert.deepEqual(keys(await s.tasks.claim("w", 10, LEASE_MS, ["train", "evaluate"])), ["t0"]);
      assert.deepEqual(keys(await s.tasks.claim("w", 10, LEASE_MS)), ["g3"]);
    });

    it("treats malformed ids as unknown and refuses unknown references and duplicate ids", async () => {
      const s = store();
      assert.equal(await s.jobs.get("not-a-uuid"), undefined);
      assert.deepEqual(await s.jobs.cancel("1; drop table jobs"), { outcome: "not_found" });
      assert.deepEqual(await s.tasks.list("x"), []);
      assert.deepEqual(await s.events.since("x"), []);
      assert.equal(await s.tasks.heartbeat({ taskId: "x", owner: "w", attempt: 1 }, LEASE_MS), false);
      assert.equal(await s.datasets.get("x"), undefined);
      assert.equal(await s.apiKeys.get("x"), undefined);
      const code = (c: string) => (e: unknown) => e instanceof StoreError && e.code === c;
      const one = [{ key: "k", kind: "x" }];
      await assert.rejects(
        s.jobs.create({ spec: {}, datasetId: "00000000-0000-4000-8000-000000000000", tasks: one }),
        code("invalid_argument"),
      );
      await assert.rejects(
        s.jobs.create({ spec: {}, apiKeyId: "nope", tasks: one }),
        code("invalid_argument"),
      );
      const { job } = await s.jobs.create({ spec: {}, tasks: one });
      await assert.rejects(s.jobs.create({ id: job.id, spec: {}, tasks: one }), code("conflict"));
    });

    it("reports queue depth per kind: runnable now, waiting on dependencies or backoff, running", async () => {
      const s = store({ retry: NO_JITTER });
      await s.jobs.create({ spec: {}, tasks: chain });
      const cancelled = await s.jobs.create({ spec: {}, tasks: [{ key: "g", kind: "generate" }] });
      await s.jobs.cancel(cancelled.job.id);
      assert.deepEqual(await s.tasks.queueDepth(), {
        finetune: { runnable: 1, waiting: 0, running: 0 },
        generate: { runnable: 0, waiting: 2, running: 0 },
        evaluate: { runnable: 0, waiting: 1, running: 0 },
      });
      const [ft] = await s.tasks.claim("w", 1, LEASE_MS);
      await s.tasks.complete(ft.lease, {});
      const [g0] = await s.tasks.claim("w", 1, LEASE_MS);
      await s.tasks.fail(g0.lease, {}, { retryable: true });
      const depth = await s.tasks.queueDepth();
      assert.deepEqual(depth.generate, { runnable: 1, waiting: 1, running: 0 });
      assert.equal(depth.finetune, undefined);
    });

    it("lists jobs newest first with a keyset cursor that is stable under inserts", async () => {
      const s = store();
      const one = [{ key: "only", kind: "x" }];
      const original: string[] = [];
      for (let i = 0; i < 7; i++) original.unshift((await s.jobs.create({ spec: { i }, tasks: one })).job.id);
      const seen: string[] = [];
      let page = await s.jobs.list({ limit: 3 });
      seen.push(...page.items.map((j) => j.id));
      for (let i = 0; i < 3; i++) await s.jobs.create({ spec: { late: i }, tasks: one });
      while (page.nextCursor !== null) {
        page = await s.jobs.list({ limit: 3, cursor: page.nextCursor });
        seen.push(...page.items.map((j) => j.id));
      }
      assert.deepEqual(seen, original, "every original job once, in order, none of the late ones");
      const fresh = await s.jobs.list({ limit: 100 });
      assert.equal(fresh.items.length, 10);
      assert.equal(fresh.nextCursor, null);
      const order = fresh.items.map((j) => [j.createdAt.getTime(), j.id] as const);
      const sorted = [...order].sort((a, b) => b[0] - a[0] || (a[1] < b[1] ? 1 : -1));
      assert.deepEqual(order, sorted);
      await assert.rejects(
        s.jobs.list({ cursor: "not-a-cursor" }),
        (e: unknown) => e instanceof StoreError && e.code === "invalid_cursor",
      );
    });

    it("breaks created_at ties by id so pages neither repeat nor skip", async () => {
      const s = store();
      for (let i = 0; i < 6; i++) await s.jobs.create({ spec: {}, tasks: [{ key: "k", kind: "x" }] });
      await q("update jobs set created_at = '2024-01-01T00:00:00Z'");
      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await s.jobs.list({ limit: 4, ...(cursor ? { cursor } : {}) });
        seen.push(...page.items.map((j) => j.id));
        cursor = page.nextCursor ?? undefined;
      } while (cursor !== undefined);
      const all = (await q<{ id: string }>("select id from jobs order by id desc")).rows.map((r) => r.id);
      assert.deepEqual(seen, all);
    });

    it("filters the listing by API key and state", async () => {
      const s = store();
      const { apiKey } = await s.apiKeys.create({ name: "team" });
      const mine = await s.jobs.create({ spec: {}, apiKeyId: apiKey.id, tasks: [{ key: "k", kind: "x" }] });
      await s.jobs.create({ spec: {}, tasks: [{ key: "k", kind: "x" }] });
      assert.deepEqual(
        (await s.jobs.list({ apiKeyId: apiKey.id })).items.map((j) => j.id),
        [mine.job.id],
      );
      await s.jobs.cancel(mine.job.id);
      assert.deepEqual(
        (await s.jobs.list({ state: "cancelled" })).items.map((j) => j.id),
        [mine.job.id],
      );
    });
  });

  describe("concurrent claimers", () => {
    it("never hand the same task to two claimers: each of N tasks is claimed exactly once", async () => {
      const n = 40;
      const { job } = await store().jobs.create({
        spec: {},
        tasks: Array.from({ length: n }, (_, i) => ({ key: `generate:shard=${i}`, kind: "generate" })),
      });
      const handles = [target().db, await target().other(), await target().other()];
      const claimedBy = await Promise.all(
        handles.map(async (db, w) => {
          const worker = new JobStore(db);
          const mine: string[] = [];
          for (let idle = 0; idle < 3; ) {
            const claimed = await worker.tasks.claim(`worker-${w}`, 3, LEASE_MS);
            if (claimed.length === 0) {
              idle++;
              await sleep(5);
              continue;
            }
            idle = 0;
            for (const c of claimed) {
              mine.push(c.task.key);
              assert.equal((await worker.tasks.complete(c.lease, { by: w })).outcome, "succeeded");
            }
          }
          return mine;
        }),
      );
      const all = claimedBy.flat();
      assert.equal(all.length, n, `claims per worker: ${claimedBy.map((c) => c.length)}`);
      assert.equal(new Set(all).size, n);
      const { rows } = await q<{ attempts: number; state: string }>("select attempts, state from tasks");
      assert.ok(rows.every((r) => r.attempts === 1 && r.state === "succeeded"));
      assert.equal((await store().jobs.get(job.id))?.state, "succeeded");
      const events = await store().events.since(job.id);
      assert.equal(events.filter((e) => e.type === "task.started").length, n);
      assert.equal(events.filter((e) => e.type === "job.succeeded").length, 1);
    });

    it("settle the job exactly once when its last tasks complete at the same moment on two connections", async () => {
      const [a, b] = [new JobStore(target().db), new JobStore(await target().other())];
      for (let round = 0; round < 10; round++) {
        const { job } = await a.jobs.create({
          spec: {},
          tasks: [
            { key: "x", kind: "train" },
            { key: "y", kind: "train" },
          ],
        });
        const [[first], [second]] = [
          await a.tasks.claim("a", 1, LEASE_MS),
          await b.tasks.claim("b", 1, LEASE_MS),
        ];
        const outcomes = await Promise.all([
          a.tasks.complete(first.lease, {}),
          b.tasks.complete(second.lease, {}),
        ]);
        assert.deepEqual(outcomes.map((o) => (o.outcome === "succeeded" ? o.jobState : o.outcome)).sort(), [
          "running",
          "succeeded",
        ]);
        assert.equal((await a.jobs.get(job.id))?.state, "succeeded", `round ${round}`);
        const types = (await a.events.since(job.id)).map((e) => e.type);
        assert.equal(types.filter((t) => t === "job.succeeded").length, 1);
      }
    });

    it("stay consistent when a job is cancelled while claimers and completers race on it", async () => {
      const n = 60;
      const { job } = await store().jobs.create({
        spec: {},
        tasks: Array.from({ length: n }, (_, i) => ({ key: `s${i}`, kind: "generate" })),
      });
      const handles = [target().db, await target().other(), await target().other()];
      const claimed: string[] = [];
      const workers = handles.map(async (db, w) => {
        const worker = new JobStore(db);
        for (let idle = 0; idle < 3; ) {
          const batch = await worker.tasks.claim(`w${w}`, 2, LEASE_MS);
          idle = batch.length === 0 ? idle + 1 : 0;
          for (const c of batch) {
            claimed.push(c.task.id);
            await sleep(1); // the RPC
            await worker.tasks.complete(c.lease, {});
          }
        }
      });
      while (claimed.length < n / 3) await sleep(1);
      const cancelled = await new JobStore(await target().other()).jobs.cancel(job.id);
      await Promise.all(workers);
      assert.equal(cancelled.outcome, "cancelled");
      assert.equal(new Set(claimed).size, claimed.length, "no task claimed twice");
      const counts = await store().jobs.taskCounts(job.id);
      assert.equal(counts.pending + counts.running + counts.failed, 0, JSON.stringify(counts));
      assert.ok(counts.succeeded >= n / 3 - 6 && counts.cancelled > 0, JSON.stringify(counts));
      assert.equal((await store().jobs.get(job.id))?.state, "cancelled");
      const types = (await store().events.since(job.id)).map((e) => e.type);
      assert.equal(types.filter((t) => t === "job.cancelled").length, 1);
      assert.equal(types.indexOf("job.succeeded"), -1);
    });
  });

  describe("leases", () => {
    it("extend on heartbeat while the owner holds them", async () => {
      const s = store();
      await s.jobs.create({ spec: {}, tasks: [{ key: "k", kind: "x" }] });
      const [c] = await s.tasks.claim("w", 1, 1_000);
      const before = (await s.tasks.get(c.task.id))!.leaseExpiresAt!;
      assert.equal(await s.tasks.heartbeat(c.lease, 60_000), true);
      const after = (await s.tasks.get(c.task.id))!;
      assert.ok(after.leaseExpiresAt!.getTime() - before.getTime() > 50_000);
      assert.equal(await s.tasks.heartbeat({ ...c.lease, owner: "someone-else" }, 60_000), false);
      assert.deepEqual(await s.tasks.reclaimExpired(), { requeued: [], failed: [], abort: [] });
    });

    it("expire when the owner stops heartbeating: another owner takes the task once, the old owner is fenced", async () => {
      const s = store({ retry: { baseMs: 0, factor: 1, capMs: 0, jitter: 0 } });
      const { job } = await s.jobs.create({ spec: {}, tasks: [{ key: "k", kind: "x" }] });
      const [crashed] = await s.tasks.claim("gateway-a", 1, 50);
      await sleep(120); // a real lease running out on the database clock
      const replica = new JobStore(await target().other(), {
        retry: { baseMs: 0, factor: 1, capMs: 0, jitter: 0 },
      });
      const reclaimed = await replica.tasks.reclaimExpired();
      assert.deepEqual(reclaimed, { requeued: [crashed.task.id], failed: [], abort: [] });
      assert.deepEqual(await replica.tasks.reclaimExpired(), {
        requeued: [],
        failed: [],
        abort: [],
      });

      const taken = await s.tasks.claim("gateway-b", 5, LEASE_MS);
      assert.equal(taken.length, 1);
      assert.deepEqual(taken[0].lease, { taskId: crashed.task.id, owner: "gateway-b", attempt: 2 });
      assert.deepEqual(await s.tasks.claim("gateway-c", 5, LEASE_MS), []);

      assert.equal(await s.tasks.heartbeat(crashed.lease, LEASE_MS), false);
      assert.deepEqual(await s.tasks.complete(crashed.lease, { stale: true }), { outcome: "lease_lost" });
      assert.deepEqual(await s.tasks.fail(crashed.lease, {}, { retryable: false }), {
        outcome: "lease_lost",
      });
      assert.equal(await s.tasks.release(crashed.lease), false);

      assert.deepEqual(await s.tasks.complete(taken[0].lease, { fresh: true }), {
        outcome: "succeeded",
        jobState: "succeeded",
      });
      const task = (await s.tasks.get(crashed.task.id))!;
      assert.equal(task.attempts, 2);
      assert.deepEqual(task.output, { fresh: true });
      const types = (await s.events.since(job.id)).map((e) => e.type);
      assert.deepEqual(types, [
        "job.created",
        "job.started",
        "task.started",
        "task.retry_scheduled",
        "task.started",
        "task.succeeded",
        "job.succeeded",
      ]);
    });

    it("fence a stale run of the same owner by its attempt number", async () => {
      const s = store({ retry: { baseMs: 0, factor: 1, capMs: 0, jitter: 0 } });
      await s.jobs.create({ spec: {}, tasks: [{ key: "k", kind: "x" }] });
      const [first] = await s.tasks.claim("gateway-a", 1, LEASE_MS);
      await expireLease(first.task.id);
      await s.tasks.reclaimExpired();
      const [second] = await s.tasks.claim("gateway-a", 1, LEASE_MS);
      assert.equal(second.lease.attempt, 2);
      assert.deepEqual(await s.tasks.complete(first.lease, {}), { outcome: "lease_lost" });
      assert.equal(await s.tasks.heartbeat(second.lease, LEASE_MS), true);
    });

    it("stay with their owner after expiry until someone reclaims them", async () => {
      const s = store();
      await s.jobs.create({ spec: {}, tasks: [{ key: "k", kind: "x" }] });
      const [c] = await s.tasks.claim("w", 1, LEASE_MS);
      await expireLease(c.task.id);
      assert.equal(await s.tasks.heartbeat(c.lease, LEASE_MS), true, "a late heartbeat still wins the race");
      assert.deepEqual((await s.tasks.reclaimExpired()).requeued, []);
    });

    it("count the lost run as an attempt and fail the job once attempts are used up", async () => {
      const s = store({ retry: { baseMs: 0, factor: 1, capMs: 0, jitter: 0 } });
      const { job } = await s.jobs.create({
        spec: {},
        tasks: [
          { key: "poison", kind: "x", maxAttempts: 2 },
          { key: "sibling", kind: "x" },
        ],
      });
      const [poison, sibling] = await s.tasks.claim("w", 2, LEASE_MS);
      await expireLease(poison.task.id);
      assert.deepEqual((await s.tasks.reclaimExpired()).requeued, [poison.task.id]);
      const [again] = await s.tasks.claim("w", 1, LEASE_MS);
      assert.equal(again.lease.attempt, 2);
      await expireLease(again.task.id);
      const result = await s.tasks.reclaimExpired();
      assert.deepEqual(result.requeued, []);
      assert.deepEqual(result.failed, [poison.task.id]);
      assert.deepEqual(
        result.abort.map((a) => a.lease),
        [sibling.lease],
      );
      const failed = await s.jobs.get(job.id);
      assert.equal(failed?.state, "failed");
      assert.deepEqual(failed?.error, {
        taskKey: "poison",
        stage: "x",
        error: { code: "lease_expired", message: "lease of w expired" },
        gaveUp: "gave up after 2 attempts (the most this task may make)",
      });
      assert.equal(await s.tasks.heartbeat(sibling.lease, LEASE_MS), false);
    });

    it("can be handed back without spending an attempt", async () => {
      const s = store();
      await s.jobs.create({ spec: {}, tasks: [{ key: "k", kind: "x", maxAttempts: 1 }] });
      const [c] = await s.tasks.claim("w", 1, LEASE_MS);
      assert.equal(await s.tasks.release(c.lease), true);
      const [again] = await s.tasks.claim("w2", 1, LEASE_MS);
      assert.deepEqual(again.lease, { taskId: c.task.id, owner: "w2", attempt: 1 });
    });
  });

  describe("failures and retries", () => {
    it("retry retryable failures with exponential backoff and count attempts up to max_attempts", async () => {
      const s = store({ retry: NO_JITTER });
      const { job } = await s.jobs.create({
        spec: {},
        tasks: [{ key: "g", kind: "generate", maxAttempts: 3 }],
      });
      const delays: number[] = [];
      for (let attempt = 1; attempt <= 2; attempt++) {
        const [c] = await s.tasks.claim("w", 1, LEASE_MS);
        assert.equal(c.lease.attempt, attempt);
        const outcome = await s.tasks.fail(c.lease, { code: "UNAVAILABLE", attempt }, { retryable: true });
        assert.equal(outcome.outcome, "retry_scheduled");
        const { rows } = await q<{ ms: number }>(
          "select extract(epoch from run_after - now()) * 1000 as ms from tasks where id = $1",
          [c.task.id],
        );
        delays.push(Number(rows[0].ms));
        assert.deepEqual(await s.tasks.claim("w", 1, LEASE_MS), [], "not claimable before run_after");
        const task = (await s.tasks.get(c.task.id))!;
        assert.equal(task.state, "pending");
        assert.deepEqual(task.error, { code: "UNAVAILABLE", attempt });
        await makeDue(c.task.id);
      }
      // 60 s after the first failure, 120 s after the second (minus the time the test took).
      assert.ok(delays[0] > 55_000 && delays[0] <= 60_000, `first delay ${delays[0]}`);
      assert.ok(delays[1] > 115_000 && delays[1] <= 120_000, `second delay ${delays[1]}`);

      const [last] = await s.tasks.claim("w", 1, LEASE_MS);
      assert.equal(last.lease.attempt, 3);
      const final = await s.tasks.fail(last.lease, { code: "UNAVAILABLE", attempt: 3 }, { retryable: true });
      assert.deepEqual(final, { outcome: "failed", jobState: "failed", abort: [] });
      const task = (await s.tasks.get(last.task.id))!;
      assert.equal(task.state, "failed");
      assert.equal(task.attempts, 3);
      const failed = (await s.jobs.get(job.id))!;
      assert.equal(failed.state, "failed");
      assert.deepEqual(failed.error, {
        taskKey: "g",
        stage: "generate",
        error: { code: "UNAVAILABLE", attempt: 3 },
        gaveUp: "gave up after 3 attempts (the most this task may make)",
      });
    });

    it("cap the backoff and only shorten it by the jitter fraction", async () => {
      const s = store({ retry: { baseMs: 1_000, factor: 10, capMs: 50_000, jitter: 0.5 } });
      const tasks = Array.from({ length: 12 }, (_, i) => ({ key: `t${i}`, kind: "x", maxAttempts: 5 }));
      await s.jobs.create({ spec: {}, tasks });
      // The next failure is the third: 1 s · 10² = 100 s, capped at 50 s.
      await q("update tasks set attempts = 2, infra_failures = 2");
      const claimed = await s.tasks.claim("w", 12, LEASE_MS);
      for (const c of claimed) await s.tasks.fail(c.lease, {}, { retryable: true });
      const { rows } = await q<{ ms: number }>(
        "select extract(epoch from run_after - now()) * 1000 as ms from tasks",
      );
      const delays = rows.map((r) => Number(r.ms));
      assert.ok(
        delays.every((d) => d > 25_000 - 2_000 && d <= 50_000),
        `delays ${delays}`,
      );
      assert.ok(new Set(delays.map((d) => Math.round(d / 100))).size > 1, "jitter spreads the retries");
    });

    it("never retry a non-retryable failure: the job fails and its other tasks are cancelled", async () => {
      const s = store();
      const { job } = await s.jobs.create({
        spec: {},
        tasks: [
          { key: "bad", kind: "generate", maxAttempts: 5 },
          { key: "busy", kind: "generate" },
          { key: "later", kind: "evaluate", dependsOn: ["bad", "busy"] },
        ],
      });
      const [bad, busy] = await s.tasks.claim("w", 2, LEASE_MS);
      const outcome = await s.tasks.fail(
        bad.lease,
        { code: "INVALID_ARGUMENT", message: "strength > 1" },
        { retryable: false },
      );
      assert.equal(outcome.outcome, "failed");
      assert.deepEqual(outcome.outcome === "failed" ? outcome.abort : [], [
        { taskId: busy.task.id, jobId: job.id, key: "busy", kind: "generate", lease: busy.lease },
      ]);
      assert.equal((await s.tasks.get(bad.task.id))?.attempts, 1);
      assert.deepEqual(await s.jobs.taskCounts(job.id), {
        pending: 0,
        running: 0,
        succeeded: 0,
        failed: 1,
        cancelled: 2,
      });
      assert.equal(await s.tasks.heartbeat(busy.lease, LEASE_MS), false);
      assert.deepEqual(await s.tasks.complete(busy.lease, {}), { outcome: "lease_lost" });
      const failed = (await s.jobs.get(job.id))!;
      assert.equal(failed.state, "failed");
      assert.deepEqual(failed.error, {
        taskKey: "bad",
        stage: "generate",
        error: { code: "INVALID_ARGUMENT", message: "strength > 1" },
      });
      assert.deepEqual(await s.tasks.claim("w", 10, LEASE_MS), []);
    });

    it("retry infrastructure failures for a time, not a count: past the budget the task fails", async () => {
      const s = store({
        retry: { baseMs: 0, factor: 1, capMs: 0, jitter: 0 },
        budget: { infraRetryMs: 60_000, maxLeaseLosses: 10 },
      });
      const { job } = await s.jobs.create({
        spec: {},
        tasks: [{ key: "t", kind: "train", maxAttempts: 50 }],
      });
      // Eight failures inside the budget: each is retried, whatever the count.
      for (let attempt = 1; attempt <= 8; attempt++) {
        const [c] = await s.tasks.claim("w", 1, LEASE_MS);
        const outcome = await s.tasks.fail(c.lease, { code: "unavailable" }, { retryable: true });
        assert.equal(outcome.outcome, "retry_scheduled", `attempt ${attempt}`);
      }
      const task = (await s.tasks.get((await s.tasks.list(job.id))[0].id))!;
      assert.equal(task.infraFailures, 8);
      assert.equal(task.leaseLosses, 0);
      assert.ok(task.retryDeadline !== null);
      // The deadline was set at the first failure; move it into the past.
      await q("update tasks set retry_deadline = now() - interval '1 second' where job_id = $1", [job.id]);
      const [last] = await s.tasks.claim("w", 1, LEASE_MS);
      const final = await s.tasks.fail(last.lease, { code: "unavailable" }, { retryable: true });
      assert.equal(final.outcome, "failed");
      assert.deepEqual((await s.jobs.get(job.id))?.error, {
        taskKey: "t",
        stage: "train",
        error: { code: "unavailable" },
        gaveUp: "gave up after 9 infrastructure failures over 60 s",
      });
    });

    it("survive lost leases up to the lease-loss budget without spending the infrastructure budget", async () => {
      const s = store({
        retry: { baseMs: 0, factor: 1, capMs: 0, jitter: 0 },
        budget: { infraRetryMs: 0, maxLeaseLosses: 3 },
      });
      const { job } = await s.jobs.create({ spec: {}, tasks: [{ key: "long", kind: "x", maxAttempts: 50 }] });
      for (let loss = 1; loss <= 3; loss++) {
        const [c] = await s.tasks.claim(`gateway-${loss}`, 1, LEASE_MS);
        await expireLease(c.task.id);
        assert.deepEqual((await s.tasks.reclaimExpired()).requeued, [c.task.id], `loss ${loss}`);
      }
      const [fourth] = await s.tasks.claim("gateway-4", 1, LEASE_MS);
      assert.equal((await s.tasks.get(fourth.task.id))?.leaseLosses, 3);
      // A clean success after three crashes: the job succeeds.
      assert.equal((await s.tasks.complete(fourth.lease, {})).outcome, "succeeded");
      assert.equal((await s.jobs.get(job.id))?.state, "succeeded");

      const { job: poison } = await s.jobs.create({
        spec: {},
        tasks: [{ key: "poison", kind: "x", maxAttempts: 50 }],
      });
      for (let loss = 1; loss <= 4; loss++) {
        const [c] = await s.tasks.claim("w", 1, LEASE_MS);
        await expireLease(c.task.id);
        const reclaimed = await s.tasks.reclaimExpired();
        assert.deepEqual(loss <= 3 ? reclaimed.requeued : reclaimed.failed, [c.task.id], `loss ${loss}`);
      }
      assert.deepEqual((await s.jobs.get(poison.id))?.error, {
        taskKey: "poison",
        stage: "x",
        error: { code: "lease_expired", message: "lease of w expired" },
        gaveUp: "its owner stopped 4 times (the most a task survives is 3)",
      });
    });
  });

  describe("cancellation", () => {
    it("cancels the job and its open tasks and returns the running ones to abort", async () => {
      const s = store();
      const { job } = await s.jobs.create({ spec: {}, tasks: chain });
      const [ft] = await s.tasks.claim("w", 1, LEASE_MS);
      await s.tasks.complete(ft.lease, {});
      const [g0] = await s.tasks.claim("w", 1, LEASE_MS);
      const result = await s.jobs.cancel(job.id);
      assert.equal(result.outcome, "cancelled");
      assert.deepEqual(result.outcome === "cancelled" ? result.abort.map((a) => a.lease) : [], [g0.lease]);
      assert.deepEqual(await s.jobs.taskCounts(job.id), {
        pending: 0,
        running: 0,
        succeeded: 1,
        failed: 0,
        cancelled: 3,
      });
      assert.equal(await s.tasks.heartbeat(g0.lease, LEASE_MS), false);
      assert.deepEqual(await s.tasks.complete(g0.lease, {}), { outcome: "lease_lost" });
      assert.deepEqual(await s.tasks.claim("w", 10, LEASE_MS), []);
      assert.equal((await s.jobs.cancel(job.id)).outcome, "already_finished");
      assert.equal((await s.jobs.cancel("00000000-0000-4000-8000-00000000dead")).outcome, "not_found");
      assert.equal((await s.events.since(job.id)).at(-1)?.type, "job.cancelled");
    });

    it("leaves a finished job alone", async () => {
      const s = store();
      const { job } = await s.jobs.create({ spec: {}, tasks: [{ key: "k", kind: "x" }] });
      const [c] = await s.tasks.claim("w", 1, LEASE_MS);
      await s.tasks.complete(c.lease, {});
      const result = await s.jobs.cancel(job.id);
      assert.equal(result.outcome, "already_finished");
      assert.equal(result.outcome === "already_finished" ? result.job.state : undefined, "succeeded");
    });
  });

  describe("events", () => {
    it("replay in order after an id", async () => {
      const s = store();
      const { job } = await s.jobs.create({ spec: {}, tasks: [{ key: "k", kind: "x" }] });
      const other = await s.jobs.create({ spec: {}, tasks: [{ key: "k", kind: "x" }] });
      const appended = [];
      for (let i = 0; i < 5; i++) {
        appended.push(await s.events.append(job.id, "task.progress", { step: i }));
        await s.events.append(other.job.id, "task.progress", { step: i });
      }
      const all = await s.events.since(job.id);
      assert.deepEqual(
        all.map((e) => e.type),
        ["job.created", ...Array(5).fill("task.progress")],
      );
      assert.ok(all.every((e, i) => i === 0 || e.id > all[i - 1].id));
      const afterSecond = await s.events.since(job.id, appended[1].id);
      assert.deepEqual(
        afterSecond.map((e) => e.data),
        [{ step: 2 }, { step: 3 }, { step: 4 }],
      );
      assert.deepEqual(await s.events.since(job.id, appended[1].id, 1), afterSecond.slice(0, 1));
      assert.deepEqual(await s.events.since(job.id, appended[4].id), []);
      await assert.rejects(
        s.events.append("00000000-0000-4000-8000-00000000dead", "x"),
        (e: unknown) => e instanceof StoreError && e.code === "not_found",
      );
    });
  });

  describe("artifacts", () => {
    it("are stored once per (job, key) however often a shard re-runs", async () => {
      const s = store();
      const { job } = await s.jobs.create({ spec: {}, tasks: [{ key: "k", kind: "x" }] });
      const digest = "ab".repeat(32);
      const image = { jobId: job.id, kind: "synthetic", sha256: digest, bytes: 812, path: `ab/${digest}` };
      const first = await s.artifacts.put({ ...image, key: "synthetic/3/0", meta: { label: 4 } });
      const again = await s.artifacts.put({ ...image, key: "synthetic/3/0", meta: { label: 9 } });
      assert.equal(first.created, true);
      assert.equal(again.created, false);
      assert.deepEqual(again.artifact, first.artifact, "the first write stands");
      await s.artifacts.put({ ...image, key: "synthetic/3/1" });
      await s.artifacts.put({ ...image, key: "synthetic/10/0" });
      await s.artifacts.put({ ...image, key: "model/classifier", kind: "model" });
      const { rows } = await q<{ n: number }>("select count(*) as n from artifacts");
      assert.equal(rows[0].n, 4);
      assert.deepEqual(
        (await s.artifacts.list(job.id, { prefix: "synthetic/" })).map((a) => a.key),
        ["synthetic/10/0", "synthetic/3/0", "synthetic/3/1"],
      );
      assert.deepEqual(
        (await s.artifacts.list(job.id, { afterKey: "synthetic/10/0", limit: 1 })).map((a) => a.key),
        ["synthetic/3/0"],
      );
      assert.equal(await s.artifacts.isReferenced(digest), true);
      assert.equal(await s.artifacts.isReferenced("cd".repeat(32)), false);
    });
  });

  describe("idempotency keys", () => {
    it("go new → in_flight → completed, refuse another payload, and replay the response", async () => {
      const s = store();
      const idem = s.idempotency;
      assert.deepEqual(await idem.begin("key-a", "k1", "hash-1"), { state: "new" });
      assert.deepEqual(await idem.begin("key-a", "k1", "hash-1"), { state: "in_flight" });
      assert.deepEqual(await idem.begin("key-a", "k1", "hash-2"), { state: "mismatch" });
      assert.deepEqual(await idem.begin("key-b", "k1", "hash-2"), { state: "new" }, "keys are per principal");
      assert.equal(await idem.complete("key-a", "k1", { status: 202, body: { jobId: "j" } }), true);
      assert.equal(await idem.complete("key-a", "k1", { status: 500, body: {} }), false, "completes once");
      assert.deepEqual(await idem.begin("key-a", "k1", "hash-1"), {
        state: "completed",
        response: { status: 202, body: { jobId: "j" } },
      });
      assert.deepEqual(await idem.begin("key-a", "k1", "hash-2"), { state: "mismatch" });
    });

    it("can be released, expire, and are taken over when abandoned in flight", async () => {
      const s = store();
      const idem = s.idempotency;
      await idem.begin("p", "released", "h");
      assert.equal(await idem.release("p", "released"), true);
      assert.deepEqual(await idem.begin("p", "released", "h"), { state: "new" });

      await idem.begin("p", "old", "h");
      await idem.complete("p", "old", { status: 201, body: null });
      await q("update idempotency_keys set expires_at = now() - interval '1 second' where key = 'old'");
      assert.deepEqual(await idem.begin("p", "old", "other-hash"), { state: "new" }, "expired: forgotten");

      await idem.begin("p", "crashed", "h");
      await q("update idempotency_keys set locked_until = now() - interval '1 second' where key = 'crashed'");
      assert.deepEqual(await idem.begin("p", "crashed", "other"), { state: "mismatch" });
      assert.deepEqual(await idem.begin("p", "crashed", "h"), { state: "new" }, "abandoned: taken over");

      await q("update idempotency_keys set expires_at = now() - interval '1 second'");
      assert.equal(await idem.purgeExpired(), 3);
    });

    it("give exactly one of several concurrent first requests the go-ahead", async () => {
      const handles = [target().db, await target().other(), await target().other()];
      const results = await Promise.all(
        handles.flatMap((db) => [0, 1].map(() => new JobStore(db).idempotency.begin("p", "race", "h"))),
      );
      assert.deepEqual(results.map((r) => r.state).sort(), [
        "in_flight",
        "in_flight",
        "in_flight",
        "in_flight",
        "in_flight",
        "new",
      ]);
    });
  });

  describe("datasets", () => {
    it("are registered, read back and listed with shared ones visible to every key", async () => {
      const s = store();
      const { apiKey } = await s.apiKeys.create({ name: "team" });
      const builtin = await s.datasets.create({
        name: "fashion-mnist",
        kind: "builtin",
        spec: { builtin: "fashion-mnist" },
        imageCount: 70_000,
        classes: ["T-shirt/top", "trouser"],
      });
      const upload = await s.datasets.create({
        name: "birds",
        kind: "upload",
        spec: { digest: "x" },
        imageCount: 40,
        classes: ["a", "b"],
        apiKeyId: apiKey.id,
      });
      assert.deepEqual(await s.datasets.get(upload.id), upload);
      const { apiKey: other } = await s.apiKeys.create({ name: "other" });
      assert.deepEqual(
        (await s.datasets.list({ apiKeyId: other.id })).items.map((d) => d.id),
        [builtin.id],
      );
      assert.equal((await s.datasets.list({ apiKeyId: apiKey.id })).items.length, 2);
      const job = await s.jobs.create({ spec: {}, datasetId: upload.id, tasks: [{ key: "k", kind: "x" }] });
      assert.equal(job.job.datasetId, upload.id);
    });
  });

  describe("adapters", () => {
    const lora = (apiKeyId: string, name: string, sha: string) => ({
      apiKeyId,
      name,
      kind: "lora" as const,
      baseModel: "tiny-sd",
      sha256: sha.repeat(64),
      bytes: 1234,
      loraRank: 4,
      loraAlpha: 8,
    });

    it("are registered, read back and listed per key, newest first with a cursor", async () => {
      const s = store();
      const { apiKey } = await s.apiKeys.create({ name: "team" });
      const { apiKey: other } = await s.apiKeys.create({ name: "other" });
      const first = await s.adapters.create(lora(apiKey.id, "first", "a"));
      const ti = await s.adapters.create({
        apiKeyId: apiKey.id,
        name: "cats",
        kind: "textual_inversion",
        baseModel: "tiny-sd",
        sha256: "b".repeat(64),
        bytes: 99,
        tokens: ["<cat>", "<kitten>"],
      });
      assert.deepEqual(await s.adapters.get(first.id), first);
      assert.deepEqual(
        [first.kind, first.loraRank, first.loraAlpha, first.bytes, first.tokens, first.sourceJobId],
        ["lora", 4, 8, 1234, [], null],
      );
      assert.deepEqual([ti.tokens, ti.loraRank, ti.loraAlpha], [["<cat>", "<kitten>"], 0, 0]);
      assert.equal(await s.adapters.get("not-a-uuid"), undefined);
      const page = await s.adapters.list({ apiKeyId: apiKey.id, limit: 1 });
      assert.deepEqual(
        page.items.map((a) => a.id),
        [ti.id],
      );
      assert.ok(page.nextCursor);
      const next = await s.adapters.list({ apiKeyId: apiKey.id, limit: 1, cursor: page.nextCursor });
      assert.deepEqual(
        next.items.map((a) => a.id),
        [first.id],
      );
      assert.equal(next.nextCursor, null);
      assert.deepEqual((await s.adapters.list({ apiKeyId: other.id })).items, []);
      assert.equal((await s.adapters.list()).items.length, 2);
      await assert.rejects(s.adapters.create({ ...lora(apiKey.id, "x", "a"), sha256: "nope" }), StoreError);
      await assert.rejects(
        s.adapters.create({ ...lora(apiKey.id, "x", "a"), apiKeyId: "00000000-0000-4000-8000-000000000000" }),
        (error: unknown) => error instanceof StoreError && error.code === "invalid_argument",
      );
    });

    it("refuse deletion while a queued or running job uses them, and hold their blob until deleted", async () => {
      const s = store();
      const { apiKey } = await s.apiKeys.create({ name: "team" });
      const adapter = await s.adapters.create(lora(apiKey.id, "style", "c"));
      const { job } = await s.jobs.create({
        spec: {},
        adapterIds: [adapter.id],
        tasks: [{ key: "k", kind: "x" }],
      });
      assert.deepEqual(
        (await s.adapters.ofJob(job.id)).map((a) => a.id),
        [adapter.id],
      );
      assert.deepEqual(await s.blobs.referenced([adapter.sha256, "d".repeat(64)]), new Set([adapter.sha256]));
      assert.deepEqual(await s.adapters.delete(adapter.id), { outcome: "in_use", jobIds: [job.id] });
      await s.jobs.cancel(job.id);
      assert.deepEqual(await s.adapters.delete(adapter.id), { outcome: "deleted", sha256: adapter.sha256 });
      assert.deepEqual(await s.adapters.delete(adapter.id), { outcome: "not_found" });
      assert.equal(await s.adapters.get(adapter.id), undefined);
      assert.deepEqual(await s.blobs.referenced([adapter.sha256]), new Set());
      // The finished job stays; it just no longer lists the adapter.
      assert.equal((await s.jobs.get(job.id))?.state, "cancelled");
      assert.deepEqual(await s.adapters.ofJob(job.id), []);
      await assert.rejects(
        s.jobs.create({ spec: {}, adapterIds: [adapter.id], tasks: [{ key: "k", kind: "x" }] }),
        (error: unknown) => error instanceof StoreError && error.code === "invalid_argument",
      );
    });

    it("go with their owner's key", async () => {
      const s = store();
      const { apiKey } = await s.apiKeys.create({ name: "team" });
      const adapter = await s.adapters.create(lora(apiKey.id, "style", "e"));
      await q("delete from api_keys where id = $1", [apiKey.id]);
      assert.equal(await s.adapters.get(adapter.id), undefined);
    });
  });

  describe("API keys", () => {
    it("show the token once, verify it in constant time, and stop verifying after revocation", async () => {
      const s = store();
      const { apiKey, token } = await s.apiKeys.create({
        name: "ci",
        scopes: ["jobs:write"],
        rateLimitPerMinute: 60,
      });
      assert.match(token, /^dda_[0-9a-f]{32}_[0-9a-f]{64}$/);
      assert.deepEqual(await s.apiKeys.verify(token), apiKey);
      assert.deepEqual(apiKey.scopes, ["jobs:write"]);
      assert.equal(apiKey.rateLimitPerMinute, 60);
      const wrong = `${token.slice(0, -1)}${token.endsWith("0") ? "1" : "0"}`;
      assert.equal(await s.apiKeys.verify(wrong), undefined);
      assert.equal(await s.apiKeys.verify("dda_nope"), undefined);
      assert.equal(await s.apiKeys.verify(`dda_${"0".repeat(32)}_${"0".repeat(64)}`), undefined);
      const { rows } = await q<{ secret_sha256: string }>("select secret_sha256 from api_keys");
      assert.ok(!token.includes(rows[0].secret_sha256), "only a hash is stored");
      assert.equal(await s.apiKeys.revoke(apiKey.id), true);
      assert.equal(await s.apiKeys.revoke(apiKey.id), false);
      assert.equal(await s.apiKeys.verify(token), undefined);
      const listed = await s.apiKeys.list();
      assert.equal(listed.length, 1);
      assert.ok(listed[0].revokedAt instanceof Date);
      assert.ok(!("secretSha256" in listed[0]) && !("secret_sha256" in listed[0]));
    });
  });

  describe("rate limits", () => {
    const age = (keyId: string, seconds: number) =>
      q(
        "update rate_limit_buckets set refilled_at = refilled_at - $2::float8 * interval '1 second' where api_key_id = $1",
        [keyId, seconds],
      );

    it("start full, refuse once empty with the wait for the next token, and refill at the key's rate", async () => {
      const s = store();
      const { apiKey } = await s.apiKeys.create({ name: "limited", rateLimitPerMinute: 3 });
      const taken = [];
      for (let i = 0; i < 4; i++) taken.push(await s.rateLimits.take(apiKey.id, 3));
      assert.deepEqual(taken.slice(0, 3), [
        { ok: true, remaining: 2 },
        { ok: true, remaining: 1 },
        { ok: true, remaining: 0 },
      ]);
      const refused = taken[3];
      assert.ok(!refused.ok && refused.retryAfterSeconds >= 19 && refused.retryAfterSeconds <= 20);
      await age(apiKey.id, 30); // 1.5 tokens at 3 per minute
      assert.equal((await s.rateLimits.take(apiKey.id, 3)).ok, true);
      assert.equal((await s.rateLimits.take(apiKey.id, 3)).ok, false);
      await age(apiKey.id, 3600);
      let burst = 0;
      while ((await s.rateLimits.take(apiKey.id, 3)).ok) burst++;
      assert.equal(burst, 3, "the burst never exceeds one minute's worth");
    });

    it("start a full bucket of the new size when the key's limit changes", async () => {
      const s = store();
      const { apiKey } = await s.apiKeys.create({ name: "changed", rateLimitPerMinute: 1 });
      assert.equal((await s.rateLimits.take(apiKey.id, 1)).ok, true);
      assert.equal((await s.rateLimits.take(apiKey.id, 1)).ok, false);
      assert.deepEqual(await s.rateLimits.take(apiKey.id, 5), { ok: true, remaining: 4 });
    });

    it("spend each token once when replicas take from one key's bucket at the same moment", async () => {
      const { apiKey } = await store().apiKeys.create({ name: "shared", rateLimitPerMinute: 20 });
      const replicas = [store(), new JobStore(await target().other()), new JobStore(await target().other())];
      const outcomes = await Promise.all(
        replicas.flatMap((replica) =>
          Array.from({ length: 15 }, () => replica.rateLimits.take(apiKey.id, 20)),
        ),
      );
      assert.equal(outcomes.filter((o) => o.ok).length, 20, "45 requests, 20 tokens");
      const { rows } = await q<{ n: number }>("select count(*) as n from rate_limit_buckets");
      assert.equal(rows[0].n, 1);
    });
  });

  describe("webhook deliveries", () => {
    const hook = (events: string[]) => ({ url: "https://hooks.example.com/diffda", events }) as never;
    const one: NewTask[] = [{ key: "only", kind: "x" }];
    const deliveries = async (jobId: string) =>
      (
        await q<{ event_type: string; state: string }>(
          "select event_type, state from webhook_deliveries where job_id = $1 order by created_at, id",
          [jobId],
        )
      ).rows.map((row) => row.event_type);
    const expireDelivery = (id: string) =>
      q("update webhook_deliveries set lease_expires_at = now() - interval '1 second' where id = $1", [id]);

    it("are queued with the job transitions their webhook subscribes to, and only those", async () => {
      const s = store();
      const { job } = await s.jobs.create({
        spec: {},
        tasks: one,
        webhook: hook(["job.started", "job.succeeded", "job.failed"]),
      });
      assert.deepEqual(
        (await s.jobs.get(job.id))?.webhook,
        hook(["job.started", "job.succeeded", "job.failed"]),
      );
      const silent = await s.jobs.create({ spec: {}, tasks: one });
      assert.equal(silent.job.webhook, null);
      const claimed = await s.tasks.claim("w", 10, LEASE_MS);
      assert.equal(claimed.length, 2);
      for (const c of claimed) await s.tasks.complete(c.lease, { ok: true });
      assert.deepEqual(await deliveries(job.id), ["job.started", "job.succeeded"]);
      assert.deepEqual(await deliveries(silent.job.id), [], "no webhook, no delivery");

      const cancelled = await s.jobs.create({ spec: {}, tasks: one, webhook: hook(["job.cancelled"]) });
      await s.jobs.cancel(cancelled.job.id);
      assert.deepEqual(
        await deliveries(cancelled.job.id),
        ["job.cancelled"],
        "job.started was not asked for",
      );

      const page = await s.webhooks.listForJob(job.id);
      assert.deepEqual(
        page.items.map((d) => [d.eventType, d.state, d.attempts]),
        [
          ["job.succeeded", "pending", 0],
          ["job.started", "pending", 0],
        ],
      );
      const body = page.items[0].payload as { type: string; timestamp: string; data: { jobId: string } };
      assert.equal(body.type, "job.succeeded");
      assert.equal(body.data.jobId, job.id);
      assert.ok(!Number.isNaN(Date.parse(body.timestamp)));
      assert.match(page.items[0].id, /^msg_[0-9a-f]{32}$/);
    });

    it("report a failed job in the transaction that fails it", async () => {
      const s = store();
      const { job } = await s.jobs.create({ spec: {}, tasks: one, webhook: hook(["job.failed"]) });
      const [claimed] = await s.tasks.claim("w", 1, LEASE_MS);
      await s.tasks.fail(claimed.lease, { message: "boom" }, { retryable: false });
      assert.deepEqual(await deliveries(job.id), ["job.failed"]);
      const [failed] = (await s.webhooks.listForJob(job.id)).items;
      const data = (failed.payload as { data: { jobId: string; taskKey: string; error: unknown } }).data;
      assert.deepEqual([data.jobId, data.taskKey, data.error], [job.id, "only", { message: "boom" }]);
    });

    it("can be queued directly for a job that wants the event, under the job's lock", async () => {
      const s = store();
      const { job } = await s.jobs.create({ spec: {}, tasks: one, webhook: hook(["job.succeeded"]) });
      const id = await s.webhooks.enqueue(job.id, "job.succeeded", { note: "replayed" });
      assert.match(id ?? "", /^msg_[0-9a-f]{32}$/);
      assert.equal(await s.webhooks.enqueue(job.id, "job.failed"), undefined, "not subscribed");
      await assert.rejects(
        s.webhooks.enqueue("00000000-0000-4000-8000-00000000dead", "job.succeeded"),
        (e: unknown) => e instanceof StoreError && e.code === "not_found",
      );
      const [queued] = (await s.webhooks.listForJob(job.id)).items;
      assert.deepEqual(queued.payload, {
        type: "job.succeeded",
        timestamp: (queued.payload as { timestamp: string }).timestamp,
        data: { jobId: job.id, note: "replayed" },
      });
    });

    it("rate-limit job.progress per job and stop it once the job is finished", async () => {
      const limited = store({ webhookProgressIntervalMs: 60_000 });
      const { job } = await limited.jobs.create({ spec: {}, tasks: one, webhook: hook(["job.progress"]) });
      for (let i = 0; i < 3; i++) await limited.events.append(job.id, "task.progress", { step: i });
      assert.deepEqual(await deliveries(job.id), ["job.progress"], "one per minute");
      const [first] = (await limited.webhooks.listForJob(job.id)).items;
      assert.equal((first.payload as { data: { step: number } }).data.step, 0);

      const eager = store({ webhookProgressIntervalMs: 0 });
      const other = await eager.jobs.create({ spec: {}, tasks: one, webhook: hook(["job.progress"]) });
      for (let i = 0; i < 3; i++) await eager.events.append(other.job.id, "task.progress", { step: i });
      assert.equal((await deliveries(other.job.id)).length, 3);
      await eager.jobs.cancel(other.job.id);
      await eager.events.append(other.job.id, "task.progress", { step: 9 });
      assert.equal((await deliveries(other.job.id)).length, 3, "no progress after the job finished");
    });

    it("are leased once with the job's url and its owner's secret, and settled by the lease holder", async () => {
      const s = store();
      const { apiKey } = await s.apiKeys.create({ name: "hooks" });
      const { secret } = await s.webhookSecrets.rotate(apiKey.id);
      assert.equal(await s.webhookSecrets.exists(apiKey.id), true);
      assert.equal(await s.webhookSecrets.exists("local"), false);
      const { job } = await s.jobs.create({
        spec: {},
        tasks: one,
        apiKeyId: apiKey.id,
        webhook: hook(["job.cancelled"]),
      });
      await s.jobs.cancel(job.id);
      const [leased] = await s.webhooks.lease("a", 10, LEASE_MS);
      assert.equal(leased.url, "https://hooks.example.com/diffda");
      assert.equal(leased.secret, secret);
      assert.equal(leased.delivery.state, "delivering");
      assert.deepEqual(leased.lease, { deliveryId: leased.delivery.id, owner: "a", attempt: 1 });
      assert.deepEqual(await s.webhooks.lease("b", 10, LEASE_MS), [], "a leased delivery is not due");

      await expireDelivery(leased.delivery.id);
      const [taken] = await s.webhooks.lease("b", 10, LEASE_MS);
      assert.equal(taken.lease.attempt, 2, "an expired lease is taken over");
      assert.equal(await s.webhooks.recordSuccess(leased.lease, 200), false, "the stale holder is fenced");
      assert.deepEqual(
        await s.webhooks.recordFailure(leased.lease, {
          status: 500,
          error: "x",
          retryDelayMs: 0,
          retryForMs: 1,
        }),
        { outcome: "lease_lost" },
      );
      assert.equal(await s.webhooks.recordSuccess(taken.lease, 204), true);
      const [done] = (await s.webhooks.listForJob(job.id)).items;
      assert.equal(done.state, "succeeded");
      assert.equal(done.lastStatus, 204);
      assert.ok(done.deliveredAt instanceof Date);
      assert.deepEqual(await s.webhooks.lease("c", 10, LEASE_MS), []);
    });

    it("never hand one delivery to two replicas leasing at once", async () => {
      const s = store({ webhookProgressIntervalMs: 0 });
      const { job } = await s.jobs.create({ spec: {}, tasks: one, webhook: hook(["job.progress"]) });
      for (let i = 0; i < 12; i++) await s.events.append(job.id, "task.progress", { step: i });
      const replicas = [s, new JobStore(await target().other()), new JobStore(await target().other())];
      const batches = await Promise.all(
        replicas.flatMap((replica, r) =>
          [0, 1].map((b) => replica.webhooks.lease(`replica-${r}-${b}`, 3, LEASE_MS)),
        ),
      );
      const ids = batches.flat().map((leased) => leased.delivery.id);
      assert.equal(new Set(ids).size, ids.length, "no delivery leased twice");
      const rest = await s.webhooks.lease("late", 100, LEASE_MS);
      assert.equal(ids.length + rest.length, 12, "every delivery leased exactly once");
    });

    it("retry failures after the delay until the retry window closes, then fail", async () => {
      const s = store();
      const { job } = await s.jobs.create({ spec: {}, tasks: one, webhook: hook(["job.cancelled"]) });
      await s.jobs.cancel(job.id);
      const [first] = await s.webhooks.lease("a", 1, LEASE_MS);
      const retry = await s.webhooks.recordFailure(first.lease, {
        status: 503,
        error: "HTTP 503",
        retryDelayMs: 60_000,
        retryForMs: 3_600_000,
      });
      assert.equal(retry.outcome, "retry_scheduled");
      assert.deepEqual(await s.webhooks.lease("a", 1, LEASE_MS), [], "not due before the delay");
      await q("update webhook_deliveries set next_attempt_at = now() where job_id = $1", [job.id]);
      const [second] = await s.webhooks.lease("a", 1, LEASE_MS);
      assert.equal(second.lease.attempt, 2);
      assert.deepEqual(
        await s.webhooks.recordFailure(second.lease, {
          status: null,
          error: "connect ECONNREFUSED",
          retryDelayMs: 60_000,
          retryForMs: 30_000,
        }),
        { outcome: "failed" },
        "the next attempt would fall after the retry window",
      );
      const [failed] = (await s.webhooks.listForJob(job.id)).items;
      assert.deepEqual(
        [failed.state, failed.attempts, failed.lastStatus, failed.lastError],
        ["failed", 2, null, "connect ECONNREFUSED"],
      );
      assert.deepEqual(await s.webhooks.lease("a", 1, LEASE_MS), []);
    });

    it("page a job's deliveries newest first and go with the job", async () => {
      const s = store({ webhookProgressIntervalMs: 0 });
      const { job } = await s.jobs.create({
        spec: {},
        tasks: one,
        webhook: hook(["job.progress", "job.cancelled"]),
      });
      for (let i = 0; i < 4; i++) await s.events.append(job.id, "task.progress", { step: i });
      await s.jobs.cancel(job.id);
      const first = await s.webhooks.listForJob(job.id, { limit: 3 });
      assert.equal(first.items.length, 3);
      assert.equal(first.items[0].eventType, "job.cancelled");
      assert.ok(first.nextCursor);
      const second = await s.webhooks.listForJob(job.id, { limit: 3, cursor: first.nextCursor });
      assert.equal(second.items.length, 2);
      assert.equal(second.nextCursor, null);
      const all = [...first.items, ...second.items].map((d) => d.id);
      assert.equal(new Set(all).size, 5);
      await assert.rejects(
        s.webhooks.listForJob(job.id, { cursor: "bm9wZQ" }),
        (e: unknown) => e instanceof StoreError && e.code === "invalid_cursor",
      );
      assert.deepEqual(await s.webhooks.listForJob("not-a-uuid"), { items: [], nextCursor: null });
      await s.jobs.delete(job.id);
      const { rows } = await q<{ n: number }>("select count(*) as n from webhook_deliveries");
      assert.equal(rows[0].n, 0, "deleting a job deletes its deliveries");
    });
  });
}
