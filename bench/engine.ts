/**
 * ML engine benchmark: onnxruntime's fp32 MatMul ceiling on this machine, and forward / train-step times and
 * achieved GFLOP/s of the latent UNet (self + cross attention) and of the small ResNet classifier.
 * Prints a table and writes bench/results/engine.json. `npm run bench:engine` (THREADS=n, REPS=n to change).
 *
 * Each figure is measured after warm-up as the median and the minimum of REPS runs: on a shared machine the
 * median includes other processes' load, the minimum is closer to the engine's own speed. `*_kernel_ms`
 * figures sum each node's fastest kernel time over REPS profiled runs — robust to other processes, but they
 * leave out onnxruntime's time between kernels.
 */
import { mkdir, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { availableParallelism, cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { countFlops, type Graph, GraphBuilder, specialize, toModel } from "../shared/ml/graph/index.js";
import { parameterCount, resnetGraph, unetGraph } from "../shared/ml/models/index.js";
import { addLora, mse } from "../shared/ml/nn/index.js";
import { encodeModel, f32, type Tensor } from "../shared/ml/onnx/index.js";
import { adamw, constantSchedule } from "../shared/ml/optim/index.js";
import { InProcessRunner, Trainer } from "../shared/ml/runtime/index.js";
import { Rng } from "../shared/random/index.js";
import { ENGINE_UNET, timer } from "./measure.js";
import { mergeResults } from "./results.js";

const threads = Number(process.env.THREADS ?? Math.min(2, availableParallelism()));
const reps = Number(process.env.REPS ?? 15);
const results: Record<string, number | string> = {};
const rng = new Rng(2024);

function random(dims: number[], scale = 1): Tensor {
  const t = f32(dims);
  const d = t.data as Float32Array;
  for (let i = 0; i < d.length; i++) d[i] = rng.nextNormal() * scale;
  return t;
}

const time = timer(reps);

/**
 * Σ over graph nodes of each node's fastest kernel time across runs, from onnxruntime's profiler: what a run
 * costs when no other process takes the cores (excludes the framework's time between kernels).
 */
async function kernelMs(prefix: string): Promise<number> {
  const dir = prefix.slice(0, prefix.lastIndexOf("/"));
  const base = prefix.slice(prefix.lastIndexOf("/") + 1);
  const files = (await readdir(dir)).filter((f) => f.startsWith(base) && f.endsWith(".json"));
  const best = new Map<string, number>();
  for (const f of files) {
    const events = JSON.parse(await readFile(join(dir, f), "utf8")) as {
      cat: string;
      name: string;
      dur: number;
    }[];
    for (const e of events) {
      if (e.cat !== "Node" || !e.name.endsWith("_kernel_time")) continue;
      best.set(e.name, Math.min(best.get(e.name) ?? Number.POSITIVE_INFINITY, e.dur));
    }
  }
  let total = 0;
  for (const v of best.values()) total += v;
  return total / 1000;
}

function record(key: string, value: number, digits = 2): void {
  results[key] = Number(value.toFixed(digits));
  console.log(`${key.padEnd(52)} ${results[key]}`);
}

async function matmulPeak(n = 2048): Promise<number> {
  const b = new GraphBuilder({ seed: 1 });
  const a = b.input("a", [n, n]);
  const w = b.param("w", random([n, n], 1 / Math.sqrt(n)));
  b.output(b.op("MatMul", [a, w]), "y");
  const runner = await InProcessRunner.create(encodeModel(toModel(b.graph)), { threads });
  const input = { a: random([n, n]) };
  const t = await time(() => runner.run(input), 2);
  await runner.release();
  const flops = 2 * n ** 3;
  record(`matmul_${n}_gflops`, flops / t.min / 1e6, 1);
  record(`matmul_${n}_gflops_median`, flops / t.median / 1e6, 1);
  return flops / t.min / 1e6;
}

const unetConfig = ENGINE_UNET;
const tokens = 8;

function unetBatch(batch: number, size: number): Record<string, Tensor> {
  return {
    sample: random([batch, 4, size, size]),
    timestep: f32(
      [batch],
      Array.from({ length: batch }, () => rng.nextInt(1000)),
    ),
    encoder_hidden_states: random([batch, tokens, 64]),
    target: random([batch, 4, size, size]),
  };
}

/** The UNet with an MSE loss against a `target` input (the noise-prediction objective). */
function unetWithLoss(batch: number, size: number): Graph {
  const u = unetGraph(unetConfig, { batch, height: size, width: size, tokens, seed: 7 });
  const b = new GraphBuilder({ graph: u.graph });
  b.output(mse(b, u.output, b.input("target", [batch, 4, size, size])), "loss");
  return u.graph;
}

async function benchUnet(batch: number, size: number, peak: number): Promise<void> {
  const key = `unet_${size}x${size}x4_b${batch}`;
  const forwardGraph = unetGraph(unetConfig, { batch, height: size, width: size, tokens, seed: 7 }).graph;
  results.unet_params = parameterCount(forwardGraph);
  const feeds = unetBatch(batch, size);
  const { target: _target, ...forwardFeeds } = feeds;

  const runner = await InProcessRunner.create(encodeModel(toModel(forwardGraph)), { threads });
  const fwd = await time(() => runner.run(forwardFeeds));
  await runner.release();
  const fwdFlops = countFlops(specialize(forwardGraph, {})).flops;
  const profiled = await InProcessRunner.create(encodeModel(toModel(forwardGraph)), {
    threads,
    profilePrefix: join(profileDir, `${key}_forward`),
  });
  for (let i = 0; i < reps; i++) await profiled.run(forwardFeeds);
  await profiled.release();
  const fwdKernel = await kernelMs(join(profileDir, `${key}_forward`));

  const trainer = await Trainer.create({
    graph: unetWithLoss(batch, size),
    loss: "loss",
    trainable: [...forwardGraph.params],
    optimizer: adamw({ weightDecay: 0.01 }),
    schedule: constantSchedule(1e-4),
    session: { threads },
  });
  const step = await time(() => trainer.trainStep(feeds));
  const trainFlops = countFlops(trainer.train.graph).flops;
  await trainer.release();
  const profiledTrainer = await Trainer.create({
    graph: unetWithLoss(batch, size),
    loss: "loss",
    trainable: [...forwardGraph.params],
    optimizer: adamw({ weightDecay: 0.01 }),
    schedule: constantSchedule(1e-4),
    session: { threads, profilePrefix: join(profileDir, `${key}_train`) },
  });
  for (let i = 0; i < reps; i++) await profiledTrainer.trainStep(feeds);
  await profiledTrainer.release();
  const trainKernel = await kernelMs(join(profileDir, `${key}_train`));

  // LoRA (rank 4) on the attention projections, base weights frozen as pre-packed initializers.
  const loraGraph = unetWithLoss(batch, size);
  const adapters = addLora(loraGraph, {
    rank: 4,
    target: (w) => /attn[12]\.to_(q|k|v|out\.0)\.weight$/.test(w),
  });
  const lora = await Trainer.create({
    graph: loraGraph,
    loss: "loss",
    trainable: adapters.flatMap((a) => [a.down, a.up]),
    optimizer: adamw({ weightDecay: 0 }),
    schedule: constantSchedule(1e-4),
    session: { threads },
  });
  const loraStep = await time(() => lora.trainStep(feeds));
  await lora.release();

  record(`${key}_forward_ms`, fwd.median);
  record(`${key}_forward_ms_min`, fwd.min);
  record(`${key}_forward_gflop`, fwdFlops / 1e9, 3);
  record(`${key}_forward_gflops`, fwdFlops / fwd.min / 1e6, 1);
  record(`${key}_forward_peak_ratio`, fwdFlops / fwd.min / 1e6 / peak, 3);
  record(`${key}_train_step_ms`, step.median);
  record(`${key}_train_step_ms_min`, step.min);
  record(`${key}_train_step_gflop`, trainFlops / 1e9, 3);
  record(`${key}_train_step_gflops`, trainFlops / step.min / 1e6, 1);
  record(`${key}_train_step_peak_ratio`, trainFlops / step.min / 1e6 / peak, 3);
  record(`${key}_train_forward_ratio`, step.min / fwd.min, 2);
  record(`${key}_forward_kernel_ms`, fwdKernel);
  record(`${key}_train_step_kernel_ms`, trainKernel);
  record(`${key}_train_forward_kernel_ratio`, trainKernel / fwdKernel, 2);
  record(`${key}_train_step_kernel_gflops`, trainFlops / trainKernel / 1e6, 1);
  record(`${key}_lora_r4_step_ms`, loraStep.median);
  record(`${key}_lora_r4_step_ms_min`, loraStep.min);
}

/** Batch-1 forward at a fixed size: the latency of one denoising step when generating one image. */
async function benchUnetB1(size: number): Promise<void> {
  const graph = unetGraph(unetConfig, { batch: 1, height: size, width: size, tokens, seed: 7 }).graph;
  const { target: _target, ...feeds } = unetBatch(1, size);
  const runner = await InProcessRunner.create(encodeModel(toModel(graph)), { threads });
  const t = await time(() => runner.run(feeds));
  await runner.release();
  record(`unet_${size}x${size}x4_b1_forward_ms`, t.median);
  record(`unet_${size}x${size}x4_b1_forward_ms_min`, t.min);
}

async function benchResnet(batch: number): Promise<void> {
  const r = resnetGraph(
    { inChannels: 1, classes: 10, widths: [16, 32, 64], blocks: 1, groups: 8 },
    { batch, height: 28, width: 28 },
  );
  results.resnet_params = parameterCount(r.graph);
  const targets = f32([batch, 10]);
  for (let i = 0; i < batch; i++) (targets.data as Float32Array)[i * 10 + (i % 10)] = 1;
  const feeds = { images: random([batch, 1, 28, 28]), targets };
  const trainer = await Trainer.create({
    graph: r.graph,
    loss: r.loss,
    trainable: [...r.graph.params],
    optimizer: adamw(),
    schedule: constantSchedule(1e-3),
    session: { threads },
  });
  const step = await time(() => trainer.trainStep(feeds));
  await trainer.release();
  record(`resnet_28x28x1_b${batch}_train_step_ms`, step.median);
  record(`resnet_28x28x1_b${batch}_train_step_ms_min`, step.min);
}

const profileDir = await mkdtemp(join(tmpdir(), "bench-engine-"));
const started = loadavg()[0];
results.cpu = cpus()[0]?.model ?? "unknown";
results.threads = threads;
results.reps = reps;
const peak = await matmulPeak();
await benchUnet(16, 8, peak);
await benchUnet(16, 16, peak);
await benchUnetB1(16);
await benchResnet(32);
await rm(profileDir, { recursive: true });
results.loadavg_1m_start = Number(started.toFixed(2));
results.loadavg_1m_end = Number(loadavg()[0].toFixed(2));
await mkdir(new URL("./results/", import.meta.url), { recursive: true });
// Merge, not overwrite: bench:classifier and bench:accuracy own other keys of the same file.
await mergeResults(results);
console.log("wrote bench/results/engine.json");
