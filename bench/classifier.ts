/**
 * Classifier speed: ms per AdamW train step and per forward pass at batch 64 on 32×32×1 images with
 * onnxruntime (the engine), an evaluation of 1,000 test images as the service runs it, and the same
 * forward in TensorFlow.js on its wasm backend, with the ratio.
 * Prints a table and merges the figures into bench/results/engine.json.
 *
 *   npm run bench:classifier     (THREADS=n, REPS=n, WIDTHS=a,b,c to change; defaults 2, 15, 16,32,64)
 *
 * Each figure is the median and the minimum of REPS runs after warm-up: on a shared machine the median
 * includes other processes' load, the minimum is closest to the runtime's own speed.
 */
import { availableParallelism, loadavg } from "node:os";
import * as tf from "@tensorflow/tfjs";
import { getThreadsCount, setThreadsCount } from "@tensorflow/tfjs-backend-wasm";
import { evaluateClassifier } from "../shared/classifier/index.js";
import { createImageSet } from "../shared/data/index.js";
import { toModel } from "../shared/ml/graph/index.js";
import {
  buildResNet,
  buildResNetTraining,
  RESNET_INPUT,
  RESNET_LOSS,
  RESNET_OUTPUT,
  RESNET_TARGETS,
  resnetConfig,
  resnetMacs,
} from "../shared/ml/models/resnet.js";
import { encodeModel, f32, type Tensor } from "../shared/ml/onnx/index.js";
import { adamw, constantSchedule } from "../shared/ml/optim/index.js";
import { InProcessRunner, RunnerPool, Trainer } from "../shared/ml/runtime/index.js";
import { Rng } from "../shared/random/index.js";
import { timer } from "./measure.js";
import { mergeResults, round } from "./results.js";
import { tfjsResnet } from "./tfjs-resnet.js";

const threads = Number(process.env.THREADS ?? Math.min(2, availableParallelism()));
const reps = Number(process.env.REPS ?? 15);
const batch = 64;
/** The accuracy recipe's network by default (bench/accuracy.ts). */
const widths = (process.env.WIDTHS ?? "16,32,64").split(",").map(Number);
const figures: Record<string, unknown> = {};

const time = timer(reps);

/** Numbers keep 3 decimals, or 3 significant digits when smaller than 1. */
function record(key: string, value: unknown): void {
  figures[key] =
    typeof value === "number"
      ? Math.abs(value) < 1
        ? Number(value.toPrecision(3))
        : round(value, 3)
      : value;
  console.log(`${key.padEnd(56)} ${JSON.stringify(figures[key])}`);
}

const loadStart = loadavg()[0];
const config = resnetConfig({ inChannels: 1, numClasses: 10, widths });
const train = buildResNetTraining(config, { seed: 0, labelSmoothing: 0.1 });
const rng = new Rng(7);
const images = f32([batch, 1, 32, 32]);
for (let i = 0; i < images.data.length; i++) (images.data as Float32Array)[i] = rng.nextFloat();
const targets = f32([batch, 10]);
for (let i = 0; i < batch; i++) (targets.data as Float32Array)[i * 10 + (i % 10)] = 1;
const macs = resnetMacs(config);
record("classifier_config", { ...config, input: [1, 32, 32], batch });
record("classifier_params", train.parameterCount);
record("classifier_forward_mflop_per_image", (2 * macs) / 1e6);
record("classifier_threads", threads);

// Train step: forward + backward + AdamW in one onnxruntime run (in-process: no worker hand-off).
const trainer = await Trainer.create({
  graph: train.graph,
  loss: RESNET_LOSS,
  trainable: [...train.graph.params],
  optimizer: adamw({ weightDecay: 0.05 }),
  schedule: constantSchedule(1e-3),
  session: { threads },
});
const step = await time(() => trainer.trainStep({ [RESNET_INPUT]: images, [RESNET_TARGETS]: targets }));
const parameters = trainer.modelParameters();
await trainer.release();
record("classifier_b64_train_step_ms", step.median);
record("classifier_b64_train_step_ms_min", step.min);
record("classifier_b64_train_images_per_s", (1000 * batch) / step.min);

// Forward: the inference graph with the weights as initializers (pre-packed), symbolic batch.
const graph = buildResNet(config).graph;
for (const [name, t] of parameters) graph.initializers.set(name, t);
const runner = await InProcessRunner.create(encodeModel(toModel(graph)), { threads });
const feeds: Record<string, Tensor> = { [RESNET_INPUT]: images };
const ortLogits = (await runner.run(feeds, { fetches: [RESNET_OUTPUT] }))[RESNET_OUTPUT].data as Float32Array;
const fwd = await time(() => runner.run(feeds, { fetches: [RESNET_OUTPUT] }));
await runner.release();
// One thread too: tfjs-wasm runs single-threaded in Node, so this is the like-for-like comparison.
const single = await InProcessRunner.create(encodeModel(toModel(graph)), { threads: 1 });
const fwd1 = await time(() => single.run(feeds, { fetches: [RESNET_OUTPUT] }));
await single.release();
record("classifier_b64_forward_ms", fwd.median);
record("classifier_b64_forward_ms_min", fwd.min);
record("classifier_b64_forward_gflops", (2 * macs * batch) / fwd.min / 1e6);
record("classifier_b64_train_forward_ratio", step.min / fwd.min);
record("classifier_b64_forward_1thread_ms", fwd1.median);
record("classifier_b64_forward_1thread_ms_min", fwd1.min);

// Evaluation as a service runs it: 1,000 test images through the pooled forward session (weights as
// inputs, batches of 256), the session warm from an earlier evaluation.
const testImages = 1000;
const testSet = createImageSet({
  channels: 1,
  height: 32,
  width: 32,
  images: Float32Array.from({ length: testImages * 32 * 32 }, () => rng.nextFloat()),
  labels: Int32Array.from({ length: testImages }, (_, i) => i % 10),
  classNames: Array.from({ length: 10 }, (_, i) => String(i)),
});
const pool = new RunnerPool();
const evaluation = await time(() => evaluateClassifier(parameters, config, testSet, { pool, threads }), 2);
await pool.close();
record("classifier_evaluate_1000_s", evaluation.median / 1000);
record("classifier_evaluate_1000_s_min", evaluation.min / 1000);
record("classifier_evaluate_1000_images_per_s", (1000 * testImages) / evaluation.min);

// The same network and weights in TensorFlow.js on the wasm backend (NHWC input, its native layout).
setThreadsCount(threads);
await tf.setBackend("wasm");
await tf.ready();
const net = tfjsResnet(config, parameters);
const nhwc = tf.tidy(() =>
  tf.transpose(tf.tensor4d(images.data as Float32Array, [batch, 1, 32, 32]), [0, 2, 3, 1]),
);
const tfLogits = await net.run(nhwc as tf.Tensor4D).data();
let maxDiff = 0;
for (let i = 0; i < ortLogits.length; i++) maxDiff = Math.max(maxDiff, Math.abs(ortLogits[i] - tfLogits[i]));
const tfFwd = await time(async () => {
  const y = net.run(nhwc as tf.Tensor4D);
  await y.data();
  y.dispose();
});
net.dispose();
nhwc.dispose();
record("classifier_tfjs_wasm_threads", getThreadsCount());
record("classifier_tfjs_vs_ort_logits_max_abs_diff", maxDiff);
record("classifier_b64_forward_tfjs_wasm_ms", tfFwd.median);
record("classifier_b64_forward_tfjs_wasm_ms_min", tfFwd.min);
record("classifier_b64_forward_tfjs_wasm_over_ort", tfFwd.min / fwd.min);
record("classifier_b64_forward_tfjs_wasm_over_ort_median", tfFwd.median / fwd.median);
record("classifier_b64_forward_tfjs_wasm_over_ort_1thread", tfFwd.min / fwd1.min);
record("classifier_bench_loadavg_1m", [round(loadStart, 2), round(loadavg()[0], 2)]);
record("classifier_bench_reps", reps);
if (maxDiff > 1e-3) throw new Error(`tfjs and onnxruntime disagree: max |Δlogit| = ${maxDiff}`);
await mergeResults(figures);
console.log("merged into bench/results/engine.json");
