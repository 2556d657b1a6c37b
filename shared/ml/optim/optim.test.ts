import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { GraphBuilder } from "../graph/builder.js";
import { f64 } from "../onnx/tensor.js";
import { DataType } from "../onnx/types.js";
import { Trainer } from "../runtime/trainer.js";
import { adamw, constantSchedule, type Optimizer, sgd, warmupCosine } from "./index.js";

const D = DataType.DOUBLE;
const target = [1, -2, 0.5, 3, 0, 1, -1, 2];
const coef = [1, 2, 0.5, 3, 1, 1, 2, 1];
const start = [0.3, 0.1, -0.2, 0.4, 1, -1, 0.5, 0.25];

/** L = Σ coef/2 · (w − target)² over a [2, 4] weight (decayed) and a [8] bias-like vector (not decayed). */
function quadratic(): { b: GraphBuilder; loss: string } {
  const b = new GraphBuilder({ dtype: D });
  const w = b.param("w", f64([2, 4], start));
  const v = b.param("v", f64([8], start));
  const term = (p: string) => {
    const d = b.op("Sub", [b.op("Reshape", [p, b.ints([8])]), b.floats([8], target)]);
    return b.op(
      "ReduceSum",
      [
        b.op("Mul", [
          b.op("Mul", [d, d]),
          b.floats(
            [8],
            coef.map((c) => c / 2),
          ),
        ]),
      ],
      {
        keepdims: 0,
      },
    );
  };
  const loss = b.op("Add", [term(w), term(v)]);
  return { b, loss };
}

/** Reference optimizers in plain TypeScript (torch.optim semantics). */
function reference(kind: "adamw" | "sgd", steps: number, lrs: number[], decayed: boolean): number[] {
  const p = [...start];
  const m = new Array(8).fill(0);
  const v = new Array(8).fill(0);
  for (let t = 1; t <= steps; t++) {
    const lr = lrs[t - 1];
    for (let i = 0; i < 8; i++) {
      let g = coef[i] * (p[i] - target[i]);
      if (kind === "adamw") {
        const [b1, b2, eps, wd] = [0.9, 0.999, 1e-8, 0.1];
        if (decayed) p[i] *= 1 - lr * wd;
        m[i] = b1 * m[i] + (1 - b1) * g;
        v[i] = b2 * v[i] + (1 - b2) * g * g;
        const mhat = m[i] / (1 - b1 ** t);
        const denom = Math.sqrt(v[i]) / Math.sqrt(1 - b2 ** t) + eps;
        p[i] -= (lr * mhat) / denom;
      } else {
        const [mu, wd] = [0.8, 0.05];
        if (decayed) g += wd * p[i];
        m[i] = mu * m[i] + g;
        p[i] -= lr * (g + mu * m[i]); // nesterov
      }
    }
  }
  return p;
}

async function runSteps(optimizer: Optimizer, steps: number) {
  const { b, loss } = quadratic();
  const schedule = warmupCosine({ peak: 0.1, warmup: 2, total: 6 });
  const trainer = await Trainer.create({
    graph: b.graph,
    loss,
    trainable: ["w", "v"],
    optimizer,
    schedule,
    session: { threads: 1 },
  });
  for (let i = 0; i < steps; i++) await trainer.trainStep({});
  const params = trainer.trainedParameters();
  await trainer.release();
  const lrs = Array.from({ length: steps }, (_, i) => schedule(i + 1));
  return {
    w: Array.from(params.get("w")?.data as Float64Array),
    v: Array.from(params.get("v")?.data as Float64Array),
    lrs,
  };
}

function close(a: number[], b: number[], tol = 1e-12) {
  a.forEach((x, i) => {
    assert.ok(Math.abs(x - b[i]) <= tol, `${a} vs ${b}`);
  });
}

describe("in-graph optimizers", () => {
  it("AdamW matches torch.optim.AdamW (bias correction, decoupled decay on rank ≥ 2 only)", async () => {
    const { w, v, lrs } = await runSteps(adamw({ weightDecay: 0.1 }), 5);
    close(w, reference("adamw", 5, lrs, true));
    close(v, reference("adamw", 5, lrs, false));
  });

  it("SGD with Nesterov momentum and weight decay matches torch.optim.SGD", async () => {
    const { w, v, lrs } = await runSteps(sgd({ momentum: 0.8, weightDecay: 0.05, nesterov: true }), 5);
    close(w, reference("sgd", 5, lrs, true));
    close(v, reference("sgd", 5, lrs, false));
  });

  it("clips the global gradient norm and reports it", async () => {
    const { b, loss } = quadratic();
    const trainer = await Trainer.create({
      graph: b.graph,
      loss,
      trainable: ["w", "v"],
      optimizer: sgd({ momentum: 0 }),
      schedule: constantSchedule(1),
      clipNorm: 0.5,
      session: { threads: 1 },
    });
    const { gradNorm } = await trainer.trainStep({});
    const g = start.map((p, i) => coef[i] * (p - target[i]));
    const norm = Math.sqrt(2 * g.reduce((s, x) => s + x * x, 0));
    assert.ok(Math.abs((gradNorm as number) - norm) < 1e-12);
    const w = Array.from(trainer.trainedParameters().get("w")?.data as Float64Array);
    close(
      w,
      start.map((p, i) => p - (g[i] * 0.5) / (norm + 1e-6)),
    );
    await trainer.release();
  });
});

describe("schedules", () => {
  it("warms up linearly, then decays along a cosine to the minimum", () => {
    const s = warmupCosine({ peak: 1, warmup: 10, total: 110, min: 0.1 });
    assert.equal(s(5), 0.5);
    assert.equal(s(10), 1);
    assert.ok(Math.abs(s(60) - 0.55) < 1e-12);
    assert.ok(Math.abs(s(110) - 0.1) < 1e-12);
    assert.equal(s(500), 0.1);
    assert.equal(constantSchedule(0.3)(1000), 0.3);
  });
});
