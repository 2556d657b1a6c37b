import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createCpuMeter, processCpu } from "./cpu-meter.js";

/** A CPU clock the test advances by hand (microseconds, split between user and system). */
function fakeClock() {
  let micros = 0;
  return {
    read: () => ({ user: Math.floor(micros * 0.75), system: micros - Math.floor(micros * 0.75) }),
    spend(seconds: number) {
      micros += seconds * 1e6;
    },
  };
}

describe("cpu meter", () => {
  it("gives a span that runs alone every CPU second the process spent while it was open", () => {
    const clock = fakeClock();
    const meter = createCpuMeter(clock.read);
    clock.spend(5); // before the span: nobody's
    const span = meter.start();
    clock.spend(2);
    assert.equal(span.seconds(), 2);
    clock.spend(1.5);
    assert.equal(span.stop(), 3.5);
    clock.spend(10); // after the span
    assert.equal(span.stop(), 3.5, "stop is idempotent");
    assert.equal(span.seconds(), 3.5);
    assert.equal(meter.open, 0);
  });

  it("splits overlapping spans evenly and their shares add up to what the process spent", () => {
    const clock = fakeClock();
    const meter = createCpuMeter(clock.read);
    const a = meter.start();
    clock.spend(4); // a alone: 4
    const b = meter.start();
    clock.spend(6); // both: 3 each
    const c = meter.start();
    clock.spend(3); // three: 1 each
    const cs = c.stop();
    clock.spend(2); // a and b: 1 each
    const as = a.stop();
    clock.spend(5); // b alone
    const bs = b.stop();
    assert.deepEqual([as, bs, cs], [4 + 3 + 1 + 1, 3 + 1 + 1 + 5, 1]);
    assert.equal(as + bs + cs, 4 + 6 + 3 + 2 + 5);
  });

  it("never counts a clock that goes backwards", () => {
    let micros = 1e6;
    const meter = createCpuMeter(() => ({ user: micros, system: 0 }));
    const span = meter.start();
    micros = 0;
    assert.equal(span.stop(), 0);
  });

  it("measures this process's real CPU work", () => {
    // A fixed amount of work (not a wall-clock wait): its CPU cost does not depend on the machine's load.
    const span = processCpu.start();
    let x = 0;
    for (let i = 0; i < 20_000_000; i++) x += Math.sqrt(i + x);
    const seconds = span.stop();
    assert.ok(x > 0);
    assert.ok(seconds > 0.005 && seconds < 10, `20 M square roots cost ${seconds} CPU s`);
  });
});
