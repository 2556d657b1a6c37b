import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Rng } from "../../random/index.js";
import { appendGradients } from "../autodiff/index.js";
import { GraphBuilder } from "../graph/builder.js";
import { f32, type Tensor } from "../onnx/tensor.js";
import { createSession, runSession } from "../runtime/session.js";
import {
  addLora,
  attention,
  groupNorm,
  linear,
  softmaxCrossEntropy,
  spatialTransformer,
  timestepFeatures,
} from "./index.js";

function random(rng: Rng, dims: number[]): Tensor {
  const t = f32(dims);
  rng.fillNormal(t.data as Float32Array);
  return t;
}

async function run(b: GraphBuilder, feeds: Record<string, Tensor>, outputs: string[]) {
  for (const o of outputs) b.output(o);
  const session = await createSession(b.graph, { threads: 1 });
  return runSession(session, feeds, outputs);
}

describe("layers", () => {
  it("groupNorm normalizes each group of channels to mean 0 and variance 1", async () => {
    const b = new GraphBuilder();
    const x = b.input("x", [2, 4, 3, 3]);
    const y = groupNorm(b, "gn", x, { channels: 4, groups: 2, epsilon: 0 });
    const data = random(new Rng(1), [2, 4, 3, 3]);
    const out = (await run(b, { x: data }, [y]))[y].data as Float32Array;
    for (let g = 0; g < 4; g++) {
      const part = out.subarray(g * 18, g * 18 + 18);
      const mean = part.reduce((a, v) => a + v, 0) / 18;
      const variance = part.reduce((a, v) => a + (v - mean) ** 2, 0) / 18;
      assert.ok(Math.abs(mean) < 1e-5 && Math.abs(variance - 1) < 1e-4, `group ${g}: ${mean} ${variance}`);
    }
    assert.deepEqual(b.graph.initializers.get("gn.weight")?.dims, [4]);
  });

  it("timestepFeatures are cos then sin of t·10000^(−i/half)", async () => {
    const b = new GraphBuilder();
    const t = b.input("t", [2]);
    const y = timestepFeatures(b, t, 8);
    const out = (await run(b, { t: f32([2], [0, 500]) }, [y]))[y].data as Float32Array;
    for (let i = 0; i < 4; i++) {
      const arg = 500 * Math.exp((-Math.log(10000) * i) / 4);
      assert.ok(Math.abs(out[8 + i] - Math.cos(arg)) < 1e-4);
      assert.ok(Math.abs(out[12 + i] - Math.sin(arg)) < 1e-4);
    }
    assert.deepEqual(Array.from(out.subarray(0, 8)), [1, 1, 1, 1, 0, 0, 0, 0]);
  });

  it("attention with one head and identity projections is softmax(q·kᵀ/√d)·v", async () => {
    const b = new GraphBuilder();
    const x = b.input("x", [1, 2, 2]);
    const ctx = b.input("ctx", [1, 3, 2]);
    const y = attention(b, "attn", x, ctx, { dim: 2, heads: 1, contextDim: 2 });
    const eye = f32([2, 2], [1, 0, 0, 1]);
    for (const p of ["to_q", "to_k", "to_v", "to_out.0"]) b.graph.initializers.set(`attn.${p}.weight`, eye);
    const xs = [1, 0, 0, 2];
    const cs = [1, 1, 0, 1, 2, 0];
    const out = (await run(b, { x: f32([1, 2, 2], xs), ctx: f32([1, 3, 2], cs) }, [y]))[y]
      .data as Float32Array;
    for (let i = 0; i < 2; i++) {
      const scores = [0, 1, 2].map(
        (j) => (xs[2 * i] * cs[2 * j] + xs[2 * i + 1] * cs[2 * j + 1]) / Math.SQRT2,
      );
      const e = scores.map(Math.exp);
      const z = e.reduce((a, v) => a + v);
      for (let d = 0; d < 2; d++) {
        const want = [0, 1, 2].reduce((a, j) => a + (e[j] / z) * cs[2 * j + d], 0);
        assert.ok(Math.abs(out[2 * i + d] - want) < 1e-5);
      }
    }
  });

  it("spatialTransformer keeps the NCHW shape with a symbolic batch", async () => {
    const b = new GraphBuilder({ seed: 2 });
    const x = b.input("x", ["batch", 8, 4, 4]);
    const ctx = b.input("ctx", ["batch", 3, 6]);
    const y = spatialTransformer(b, "st", x, ctx, {
      channels: 8,
      groups: 4,
      dim: 8,
      heads: 2,
      contextDim: 6,
    });
    const rng = new Rng(3);
    const out = await run(b, { x: random(rng, [2, 8, 4, 4]), ctx: random(rng, [2, 3, 6]) }, [y]);
    assert.deepEqual(out[y].dims, [2, 8, 4, 4]);
    assert.ok(b.graph.params.has("st.transformer_blocks.0.attn2.to_k.weight"));
  });

  it("softmaxCrossEntropy with soft targets and label smoothing", async () => {
    const b = new GraphBuilder();
    const logits = b.input("logits", [2, 3]);
    const t = b.input("t", [2, 3]);
    const loss = softmaxCrossEntropy(b, logits, t, { classes: 3, labelSmoothing: 0.1 });
    const l = [1, 2, 3, 0, 0, 1];
    const targets = [0, 0.3, 0.7, 1, 0, 0];
    const out = (await run(b, { logits: f32([2, 3], l), t: f32([2, 3], targets) }, [loss]))[loss]
      .data[0] as number;
    let want = 0;
    for (let i = 0; i < 2; i++) {
      const row = l.slice(3 * i, 3 * i + 3);
      const lse = Math.log(row.reduce((a, v) => a + Math.exp(v), 0));
      for (let k = 0; k < 3; k++) want -= (0.9 * targets[3 * i + k] + 0.1 / 3) * (row[k] - lse);
    }
    assert.ok(Math.abs(out - want / 2) < 1e-5);
  });
});

describe("LoRA", () => {
  function model() {
    const b = new GraphBuilder({ seed: 4 });
    const x = b.input("x", ["batch", 4, 6]);
    const y = attention(b, "attn1", x, undefined, { dim: 6, heads: 2 });
    const out = linear(b, "head", y, { inFeatures: 6, outFeatures: 2 });
    b.output(out, "y");
    return b;
  }
  const target = (w: string) => /attn1\.to_[qv]\.weight$/.test(w);

  it("starts equal to the base model and adds rank-r adapters to the targeted projections only", async () => {
    const feeds = { x: random(new Rng(5), [2, 4, 6]) };
    const base = await runSession(await createSession(model().graph, { threads: 1 }), feeds);
    const b = model();
    const adapters = addLora(b.graph, { rank: 2, alpha: 4, target });
    assert.deepEqual(
      adapters.map((a) => [a.base, a.down, a.up, a.scale]),
      [
        ["attn1.to_q.weight", "attn1.to_q.lora_A.weight", "attn1.to_q.lora_B.weight", 2],
        ["attn1.to_v.weight", "attn1.to_v.lora_A.weight", "attn1.to_v.lora_B.weight", 2],
      ],
    );
    assert.deepEqual(b.graph.initializers.get("attn1.to_q.lora_A.weight")?.dims, [6, 2]);
    const adapted = await runSession(await createSession(b.graph, { threads: 1 }), feeds);
    assert.deepEqual(Array.from(adapted.y.data as Float32Array), Array.from(base.y.data as Float32Array));
    // A nonzero B changes the output.
    const up = b.graph.initializers.get("attn1.to_v.lora_B.weight") as Tensor;
    (up.data as Float32Array).fill(0.5);
    const changed = await runSession(await createSession(b.graph, { threads: 1 }), feeds);
    assert.notDeepEqual(Array.from(changed.y.data as Float32Array), Array.from(base.y.data as Float32Array));
  });

  it("gradients reach the adapters and nothing frozen", () => {
    const b = model();
    const adapters = addLora(b.graph, { rank: 2, target });
    const loss = b.op("ReduceSum", ["y"], { keepdims: 0 });
    const wrt = adapters.flatMap((a) => [a.down, a.up]);
    const { grads } = appendGradients(b.graph, { loss, wrt });
    assert.deepEqual([...grads.keys()], wrt);
  });
});
