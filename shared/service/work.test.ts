import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { createMetrics } from "../telemetry/index.js";
import { createCpuMeter } from "./cpu-meter.js";
import { createLimiter } from "./limiter.js";
import { createWorkMetrics, outcomeOf, startWork } from "./work.js";

describe("work outcome", () => {
  test("cancelled once the call's signal fired, whatever the work did after; else ok or failed", () => {
    const fired = AbortSignal.abort();
    const live = new AbortController().signal;
    assert.equal(outcomeOf(undefined, live), "ok");
    assert.equal(outcomeOf(new Error("x"), live), "failed");
    assert.equal(outcomeOf(undefined), "ok");
    assert.equal(outcomeOf(new Error("x"), fired), "cancelled");
    assert.equal(
      outcomeOf(undefined, fired),
      "cancelled",
      "finished after the cancel: nothing reached the client",
    );
  });
});

describe("startWork: the limiter slot, CPU span and work metrics of one unit", () => {
  const setup = () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const work = createWorkMetrics(metrics, {
      inFlight: "test_units_in_flight",
      duration: "test_unit_duration_seconds",
      what: "test unit",
      labelNames: ["phase"],
    });
    let micros = 0;
    const meter = createCpuMeter(() => ({ user: micros, system: 0 }));
    return { metrics, work, meter, burn: (us: number) => (micros += us), limiter: createLimiter(1) };
  };

  test("holds the slot and counts the unit until finish; finish is idempotent and fixes the CPU seconds", async () => {
    const { metrics, work, meter, burn, limiter } = setup();
    const run = await startWork(limiter, work, { phase: "decode" }, undefined, meter);
    assert.equal(limiter.active, 1);
    assert.match(await metrics.registry.metrics(), /diffda_test_units_in_flight\{phase="decode"\} 1/);
    burn(2_000_000);
    assert.equal(run.cpuSeconds(), 2);
    const first = run.finish(undefined);
    burn(1_000_000);
    assert.deepEqual(run.finish(new Error("late")), first, "the first ending stands");
    assert.equal(first.outcome, "ok");
    assert.equal(run.cpuSeconds(), 2, "nothing after finish is metered");
    assert.equal(limiter.active, 0);
    const text = await metrics.registry.metrics();
    assert.match(text, /diffda_test_units_in_flight\{phase="decode"\} 0/);
    assert.match(text, /diffda_test_unit_duration_seconds_count\{phase="decode",outcome="ok"\} 1/);
  });

  test("a fired signal makes the outcome cancelled; a signal fired while waiting rejects and holds nothing", async () => {
    const { work, meter, limiter } = setup();
    const controller = new AbortController();
    const running = await startWork(limiter, work, { phase: "a" }, controller.signal, meter);
    const waiting = new AbortController();
    const queued = startWork(limiter, work, { phase: "b" }, waiting.signal, meter);
    waiting.abort(new Error("gone"));
    await assert.rejects(queued, /gone/);
    controller.abort();
    assert.equal(running.finish(new Error("aborted"), controller.signal).outcome, "cancelled");
    assert.equal(limiter.active, 0);
    assert.equal(meter.open, 0);
  });
});
