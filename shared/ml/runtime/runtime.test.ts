import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { Rng } from "../../random/index.js";
import { GraphBuilder } from "../graph/builder.js";
import { toModel } from "../graph/model.js";
import { embedding, linear, mse, silu } from "../nn/index.js";
import { encodeModel } from "../onnx/encode.js";
import { f32, i64, type Tensor } from "../onnx/tensor.js";
import { DataType } from "../onnx/types.js";
import { adamw, constantSchedule, warmupCosine } from "../optim/index.js";
import { InProcessRunner, RunnerPool, Trainer, WorkerRunner } from "./index.js";

/** y = silu(x·W1 + b1)·W2 + b2 with a symbolic batch. */
function mlp(seed = 1) {
  const b = new GraphBuilder({ seed });
  const x = b.input("x", ["batch", 8]);
  const target = b.input("target", ["batch", 4]);
  const y = linear(b, "fc2", silu(b, linear(b, "fc1", x, { inFeatures: 8, outFeatures: 16 })), {
    inFeatures: 16,
    outFeatures: 4,
  });
  b.output(y, "y");
  b.output(mse(b, y, target), "loss");
  return b.graph;
}

function batch(rng: Rng, n: number): Record<string, Tensor> {
  const x = f32([n, 8]);
  const target = f32([n, 4]);
  rng.fillNormal(x.data as Float32Array);
  for (let i = 0; i < n; i++)
    for (let k = 0; k < 4; k++)
      (target.data as Float32Array)[i * 4 + k] = Math.sin((x.data as Float32Array)[i * 8 + k]);
  return { x, target };
}

/** A model heavy enough to take a noticeable time: a chain of 512×512 MatMuls. */
function heavy(): Uint8Array {
  const b = new GraphBuilder({ seed: 2 });
  let h = b.input("x", [512, 512]);
  const w = b.param("w", f32([512, 512], new Float32Array(512 * 512).fill(1 / 512)));
  for (let i = 0; i < 40; i++) h = b.op("MatMul", [h, w]);
  b.output(h, "y");
  return encodeModel(toModel(b.graph));
}

describe("runners", () => {
  it("a worker runner gives the in-process results", async () => {
    const bytes = encodeModel(toModel(mlp()));
    const feeds = batch(new Rng(1), 3);
    const local = await InProcessRunner.create(bytes, { threads: 1 });
    const worker = await WorkerRunner.create(bytes, { threads: 1 });
    const a = await local.run(feeds);
    const b = await worker.run(feeds);
    assert.deepEqual(Array.from(b.y.data as Float32Array), Array.from(a.y.data as Float32Array));
    assert.deepEqual([...worker.inputNames], ["x", "target"]);
    await local.release();
    await worker.release();
    await assert.rejects(worker.run(feeds), /released/);
  });

  it("keeps the event loop free while the worker computes", async () => {
    const worker = await WorkerRunner.create(heavy(), { threads: 1 });
    const x = f32([512, 512], new Float32Array(512 * 512).fill(1));
    let ticks = 0;
    const timer = setInterval(() => ticks++, 2);
    const started = performance.now();
    await worker.run({ x });
    const elapsed = performance.now() - started;
    clearInterval(timer);
    await worker.release();
    assert.ok(ticks >= Math.min(3, Math.floor(elapsed / 10)), `${ticks} ticks in ${elapsed.toFixed(0)} ms`);
  });

  it("transfers only the named feeds' buffers", async () => {
    const worker = await WorkerRunner.create(encodeModel(toModel(mlp())), { threads: 1 });
    const feeds = batch(new Rng(2), 2);
    await worker.run(feeds, { transfer: ["x"] });
    assert.equal(feeds.x.data.length, 0, "x moved to the worker");
    assert.equal(feeds.target.data.length, 8, "target stayed");
    await worker.release();
  });

  it("reports a bad feed as a rejected run, and keeps serving", async () => {
    const worker = await WorkerRunner.create(encodeModel(toModel(mlp())), { threads: 1 });
    await assert.rejects(worker.run({ x: f32([2, 3]) }));
    const out = await worker.run(batch(new Rng(3), 2));
    assert.deepEqual(out.y.dims, [2, 4]);
    await worker.release();
  });
});

describe("RunnerPool", () => {
  it("lends one runner per lease, reuses returned ones per (model, settings), evicts beyond maxIdle", async () => {
    const pool = new RunnerPool({ maxIdle: 2, worker: false });
    const bytes = encodeModel(toModel(mlp()));
    const [a, b] = await Promise.all([pool.lease(bytes, { threads: 1 }), pool.lease(bytes, { threads: 1 })]);
    assert.notEqual(a.runner, b.runner, "two leases at once get two sessions");
    assert.equal(pool.opened, 2);
    await a.release();
    await a.release(); // once only
    const again = await pool.lease(bytes, { threads: 1 });
    assert.equal(again.runner, a.runner);
    assert.equal(again.reused, true);
    const fixed = await pool.lease(bytes, { threads: 1, dims: { batch: 2 } });
    assert.equal(fixed.reused, false, "other settings, another session");
    const out = await fixed.runner.run(batch(new Rng(1), 2));
    assert.deepEqual(out.y.dims, [2, 4]);
    await Promise.all([again.release(), b.release(), fixed.release()]);
    assert.equal(pool.idle, 2, "the oldest idle runner was released");
    const broken = await pool.lease(bytes, { threads: 1 });
    await broken.release({ discard: true });
    assert.equal(pool.idle, 1);
    await pool.close();
    assert.equal(pool.idle, 0);
    await assert.rejects(pool.lease(bytes), /closed/);
  });

  it("releases a runner left idle longer than idleMs", async () => {
    const pool = new RunnerPool({ worker: false, idleMs: 30 });
    const bytes = encodeModel(toModel(mlp()));
    await (await pool.lease(bytes)).release();
    assert.equal(pool.idle, 1);
    await new Promise((resolve) => setTimeout(resolve, 80));
    assert.equal(pool.idle, 0);
    const again = await pool.lease(bytes);
    assert.equal(again.reused, false);
    await again.release();
    await pool.close();
  });

  it("gives a trainer a pooled session that a second trainer of the same graph reuses", async () => {
    const pool = new RunnerPool({ worker: false });
    const options = {
      graph: mlp(),
      loss: "loss",
      trainable: ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"],
      optimizer: adamw({ weightDecay: 0.01 }),
      schedule: constantSchedule(1e-2),
      session: { threads: 1 },
      pool,
    };
    const data = batch(new Rng(5), 4);
    const first = await Trainer.create(options);
    const a = await first.trainStep(data);
    await first.release();
    const second = await Trainer.create({ ...options, graph: mlp() });
    const b = await second.trainStep(data);
    await second.release();
    assert.equal(pool.opened, 1);
    assert.equal(b.loss, a.loss, "same start, same batch: the reused session computes the same step");
    await pool.close();
  });
});

describe("Trainer", () => {
  const options = (worker = false) => ({
    graph: mlp(),
    loss: "loss",
    trainable: ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"],
    optimizer: adamw({ weightDecay: 0.01 }),
    schedule: warmupCosine({ peak: 1e-2, warmup: 2, total: 10 }),
    clipNorm: 1,
    session: { threads: 1 },
    worker,
  });

  it("resumes from a checkpoint exactly: N steps + save + load + N steps = 2N steps", async () => {
    const dir = await mkdtemp(join(tmpdir(), "trainer-"));
    try {
      const batches = Array.from({ length: 6 }, (_, i) => batch(new Rng(10 + i), 4));
      const straight = await Trainer.create(options());
      for (const b of batches) await straight.trainStep(b);

      const first = await Trainer.create(options());
      for (const b of batches.slice(0, 3)) await first.trainStep(b);
      await first.save(join(dir, "ckpt.safetensors"));
      await first.release();
      const resumed = await Trainer.create(options());
      await resumed.load(join(dir, "ckpt.safetensors"));
      assert.equal(resumed.step, 3);
      const results = [];
      for (const b of batches.slice(3)) results.push(await resumed.trainStep(b));
      assert.equal(results.at(-1)?.step, 6);

      const a = straight.checkpoint().tensors;
      const b = resumed.checkpoint().tensors;
      assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort());
      assert.ok(a.has("fc1.weight.m") && a.has("fc1.weight.v"), "optimizer state is checkpointed");
      for (const [name, t] of a) {
        assert.deepEqual(
          Array.from(b.get(name)?.data as Float32Array),
          Array.from(t.data as Float32Array),
          name,
        );
      }
      await straight.release();
      await resumed.release();
    } finally {
      await rm(dir, { recursive: true });
    }
  });

  it("trains the same in a worker thread as in process", async () => {
    const local = await Trainer.create(options());
    const remote = await Trainer.create(options(true));
    for (let i = 0; i < 3; i++) {
      const b = batch(new Rng(20 + i), 4);
      const [l, r] = [await local.trainStep(b), await remote.trainStep(b)];
      assert.equal(r.loss, l.loss);
    }
    const w = remote.trainedParameters().get("fc2.weight")?.data as Float32Array;
    assert.deepEqual(
      Array.from(w),
      Array.from(local.trainedParameters().get("fc2.weight")?.data as Float32Array),
    );
    await local.release();
    await remote.release();
  });

  it("trains only the chosen rows of an embedding table (textual inversion) and merges them back", async () => {
    const b = new GraphBuilder({ seed: 3 });
    const ids = b.input("ids", ["batch", 3], DataType.INT64);
    const target = b.input("target", ["batch", 3, 4]);
    const table = embedding(b, "tokens", ids, 6, 4);
    b.output(mse(b, table, target), "loss");
    const before = Float32Array.from(b.graph.initializers.get("tokens.weight")?.data as Float32Array);
    const trainer = await Trainer.create({
      graph: b.graph,
      loss: "loss",
      trainable: [{ name: "tokens.weight", rows: [4, 6] }],
      optimizer: adamw({ weightDecay: 0 }),
      schedule: constantSchedule(0.1),
      session: { threads: 1 },
    });
    assert.deepEqual(
      trainer.train.params.map((p) => [p.name, p.dims]),
      [["tokens.weight.rows_4_6", [2, 4]]],
    );
    const feeds = { ids: i64([2, 3], [0, 4, 5, 5, 1, 4]), target: f32([2, 3, 4], new Array(24).fill(1)) };
    const first = (await trainer.trainStep(feeds)).loss;
    for (let i = 0; i < 5; i++) await trainer.trainStep(feeds);
    assert.ok((await trainer.trainStep(feeds)).loss < first);
    const after = trainer.modelParameters().get("tokens.weight")?.data as Float32Array;
    assert.deepEqual(
      Array.from(after.subarray(0, 16)),
      Array.from(before.subarray(0, 16)),
      "rows 0–3 untouched",
    );
    assert.notDeepEqual(Array.from(after.subarray(16)), Array.from(before.subarray(16)), "rows 4–5 trained");
    await trainer.release();
  });

  it("refuses a checkpoint from another setup", async () => {
    const dir = await mkdtemp(join(tmpdir(), "trainer-"));
    try {
      const t = await Trainer.create(options());
      await t.save(join(dir, "a.safetensors"));
      const other = await Trainer.create({ ...options(), trainable: ["fc1.weight"] });
      await other.load(join(dir, "a.safetensors")); // a superset of what it needs: fine
      const bigger = await Trainer.create({
        ...options(),
        trainable: ["fc1.weight", "fc2.weight", "fc2.bias", "fc1.bias"],
      });
      await bigger.load(join(dir, "a.safetensors"));
      const wider = mlp();
      const onlyFirst = await Trainer.create({ ...options(), graph: wider, trainable: ["fc1.weight"] });
      await onlyFirst.save(join(dir, "b.safetensors"));
      await assert.rejects(t.load(join(dir, "b.safetensors")), /missing fc1.bias/);
      for (const x of [t, other, bigger, onlyFirst]) await x.release();
    } finally {
      await rm(dir, { recursive: true });
    }
  });
});

describe("execution providers", () => {
  // A provider name onnxruntime does not know fails session creation on every machine, so a rejection
  // naming it proves the setting reached onnxruntime (a GPU build would accept "cuda").
  const unknown = { threads: 1, executionProviders: ["diffda-no-such-provider"] };
  const named = /diffda-no-such-provider/;

  it("sessions, worker runners and trainers open on the providers they are given", async () => {
    const bytes = encodeModel(toModel(mlp()));
    await assert.rejects(InProcessRunner.create(bytes, unknown), named);
    await assert.rejects(WorkerRunner.create(bytes, unknown), named);
    await assert.rejects(
      Trainer.create({
        graph: mlp(),
        loss: "loss",
        trainable: ["fc1.weight"],
        optimizer: adamw({ weightDecay: 0 }),
        schedule: constantSchedule(1e-2),
        session: unknown,
        worker: true,
      }),
      named,
    );
    const cpu = await WorkerRunner.create(bytes, { threads: 1, executionProviders: ["cpu"] });
    try {
      assert.deepEqual((await cpu.run(batch(new Rng(1), 2))).y.dims, [2, 4]);
    } finally {
      await cpu.release();
    }
  });
});
