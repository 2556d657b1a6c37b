/**
 * diffda against a real PyTorch export (test/fixtures/torch-clip-text: transformers' CLIPTextModel through
 * torch.onnx.export, with PyTorch's own outputs and autograd gradients). Two claims: onnxruntime-node runs the
 * export and reproduces PyTorch's outputs, and diffda's autodiff — applied to the imported graph — computes
 * the same token-embedding gradient as PyTorch's autograd, which is what textual inversion trains.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { describe, it } from "node:test";
import * as ort from "onnxruntime-node";
import { importGraph } from "../shared/diffusion/models/graph-import.js";
import { appendGradients } from "../shared/ml/autodiff/index.js";
import { GraphBuilder, toModel } from "../shared/ml/graph/index.js";
import { decodeModel, encodeModel, type Tensor } from "../shared/ml/onnx/index.js";
import { fromOrt, toOrt } from "../shared/ml/runtime/index.js";
import { loadSafetensors } from "../shared/ml/safetensors/index.js";

const fixture = new URL("./fixtures/torch-clip-text/", import.meta.url);
const TABLE = "embeddings.token_embedding.weight";

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

describe("a real torch.onnx export of CLIPTextModel", async () => {
  const bytes = new Uint8Array(await readFile(new URL("model.onnx", fixture)));
  const { tensors: ref } = await loadSafetensors(new URL("reference.safetensors", fixture).pathname);
  const get = (name: string): Tensor => {
    const t = ref.get(name);
    assert.ok(t, `reference has ${name}`);
    return t;
  };

  it("runs in onnxruntime-node and reproduces PyTorch's outputs", async () => {
    const session = await ort.InferenceSession.create(bytes);
    const out = await session.run({ input_ids: toOrt(get("input_ids")) });
    const hidden = fromOrt(out.last_hidden_state);
    const pooled = fromOrt(out.pooler_output);
    assert.ok(maxAbsDiff(hidden.data as Float32Array, get("last_hidden_state").data as Float32Array) < 1e-5);
    assert.ok(maxAbsDiff(pooled.data as Float32Array, get("pooler_output").data as Float32Array) < 1e-5);
    await session.release();
  });

  it("gets the token-embedding gradient PyTorch's autograd gets, through diffda's autodiff", async (t) => {
    const b = new GraphBuilder({ name: "clip-grad" });
    const ids = b.input("input_ids", [2, 8], 7);
    const probe = b.input("probe", [2, 8, 32]);
    const outputs = importGraph(b, decodeModel(bytes), { input_ids: ids }, "te");
    const loss = b.output(
      b.op("ReduceSum", [b.op("Mul", [outputs.last_hidden_state, probe])], { keepdims: 0 }),
      "loss",
    );
    const table = `te/${TABLE}`;
    assert.ok(b.graph.initializers.has(table), "the embedding table is an initializer of the import");
    const { grads } = appendGradients(b.graph, { loss, wrt: [table] });
    const grad = grads.get(table);
    assert.ok(grad);
    b.output(grad, "table_grad");

    const session = await ort.InferenceSession.create(encodeModel(toModel(b.graph)));
    const out = await session.run({ input_ids: toOrt(get("input_ids")), probe: toOrt(get("probe")) });
    const ours = fromOrt(out.table_grad).data as Float32Array;
    const torch = get("token_embedding_grad").data as Float32Array;
    const scale = maxAbs(torch);
    const error = maxAbsDiff(ours, torch);
    // Float32 through two different kernels' reduction orders: agreement to ~1e-6 of the gradient's scale.
    t.diagnostic(`max |ours - torch| = ${error.toExponential(2)}, max |torch| = ${scale.toFixed(3)}`);
    assert.ok(scale > 0.1, `the reference gradient is not trivially zero (max ${scale})`);
    assert.ok(error / scale < 1e-5, `max |ours - torch| = ${error} against max |torch| = ${scale}`);
    await session.release();
  });
});
