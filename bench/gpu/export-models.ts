/**
 * Writes diffda-built ONNX graphs (inference and training) with seeded random inputs and the outputs that
 * onnxruntime-node computes for them on this CPU, so a GPU node can check that the same bytes are valid ONNX
 * (onnx.checker) and give the same numbers under the CUDA execution provider (`check_models.py`).
 *
 *   node --import tsx bench/gpu/export-models.ts [outDir]   (default .gpu/models)
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { type Graph, GraphBuilder, toModel } from "../../shared/ml/graph/index.js";
import { resnetGraph, unetGraph } from "../../shared/ml/models/index.js";
import { mse } from "../../shared/ml/nn/index.js";
import { encodeModel, type Tensor } from "../../shared/ml/onnx/index.js";
import { adamw, buildTrainGraph } from "../../shared/ml/optim/index.js";
import { fromOrt } from "../../shared/ml/runtime/index.js";
import { saveSafetensors } from "../../shared/ml/safetensors/index.js";
import { Rng } from "../../shared/random/index.js";
import { ENGINE_UNET } from "../measure.js";

const outDir = process.argv[2] ?? ".gpu/models";
const rng = new Rng(7);

const unetConfig = ENGINE_UNET;

function unetTrainGraph(size: number): Graph {
  const u = unetGraph(unetConfig, { batch: 16, height: size, width: size, tokens: 8, seed: 1 });
  const b = new GraphBuilder({ graph: u.graph });
  const target = b.input("target", [16, 4, size, size]);
  b.output(mse(b, u.output, target), "loss");
  const train = buildTrainGraph(u.graph, {
    loss: "loss",
    trainable: [...u.graph.params],
    optimizer: adamw({ weightDecay: 0.01 }),
    clipNorm: 1,
  });
  return train.graph;
}

/** A random feed for every input the session declares (symbolic dims take `batch`). */
function randomFeeds(session: ort.InferenceSession, batch: number): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const meta of session.inputMetadata) {
    if (!meta.isTensor) throw new Error(`${meta.name}: not a tensor input`);
    const dims = meta.shape.map((d) => (typeof d === "number" ? d : batch));
    const n = dims.reduce((a, c) => a * c, 1);
    if (meta.type === "float32") {
      const data = new Float32Array(n);
      // Timesteps, learning rate and step count want positive values of their own scale.
      const scale = meta.name === "timestep" ? 999 : 0.1;
      for (let i = 0; i < n; i++)
        data[i] = meta.name === "timestep" ? Math.floor(rng.nextFloat() * scale) : rng.nextNormal() * scale;
      if (/(^|\.)step$/.test(meta.name)) data.fill(1);
      if (/(^|\.)lr$/.test(meta.name)) data.fill(1e-3);
      feeds[meta.name] = new ort.Tensor("float32", data, dims);
    } else if (meta.type === "int64") {
      feeds[meta.name] = new ort.Tensor(
        "int64",
        BigInt64Array.from({ length: n }, () => BigInt(rng.nextInt(10))),
        dims,
      );
    } else {
      throw new Error(`${meta.name}: input type ${meta.type} not handled`);
    }
  }
  return feeds;
}

async function exportOne(name: string, graph: Graph, weightsAs: "initializers" | "inputs", batch: number) {
  const bytes = encodeModel(toModel(graph, { weightsAs }));
  const session = await ort.InferenceSession.create(bytes, {
    intraOpNumThreads: 2,
    graphOptimizationLevel: "all",
  });
  const feeds = randomFeeds(session, batch);
  const outputs = await session.run(feeds);
  const dir = join(outDir, name);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "model.onnx"), bytes);
  const asTensors = (r: Record<string, ort.Tensor>) =>
    new Map<string, Tensor>(Object.entries(r).map(([k, v]) => [k, fromOrt(v)]));
  await saveSafetensors(join(dir, "inputs.safetensors"), asTensors(feeds));
  await saveSafetensors(join(dir, "outputs.safetensors"), asTensors(outputs));
  await session.release();
  console.log(
    `${name}: ${(bytes.length / 1e6).toFixed(2)} MB, ${Object.keys(feeds).length} inputs, ${Object.keys(outputs).length} outputs`,
  );
}

await exportOne(
  "unet_8x8_forward",
  unetGraph(unetConfig, { height: 8, width: 8, tokens: 8, seed: 1 }).graph,
  "initializers",
  16,
);
await exportOne(
  "unet_16x16_forward",
  unetGraph(unetConfig, { height: 16, width: 16, tokens: 8, seed: 1 }).graph,
  "initializers",
  16,
);
await exportOne("unet_8x8_train_step", unetTrainGraph(8), "initializers", 16);
const classifier = resnetGraph(
  { inChannels: 1, classes: 10, widths: [32, 64, 128], blocks: 1, groups: 8 },
  { batch: 64, height: 32, width: 32 },
);
await exportOne("resnet_forward", classifier.graph, "initializers", 64);
