/**
 * The classifier ResNet written again with TensorFlow.js ops (NHWC, its native layout), reading the same
 * parameters as the ONNX graph, so the benchmark times the same network in both runtimes and can check that
 * both compute the same logits.
 */
import * as tf from "@tensorflow/tfjs";
import type { ResNetConfig } from "../shared/ml/models/resnet.js";
import type { Tensor } from "../shared/ml/onnx/index.js";

type Weights = (name: string) => tf.Tensor;

/** Loads the ONNX-layout parameters as tfjs tensors: conv weights OIHW → HWIO, the rest as they are. */
function weightsOf(parameters: Map<string, Tensor>): { get: Weights; dispose: () => void } {
  const made = new Map<string, tf.Tensor>();
  for (const [name, t] of parameters) {
    const raw = tf.tensor(t.data as Float32Array, t.dims);
    if (t.dims.length === 4) {
      made.set(name, tf.transpose(raw, [2, 3, 1, 0]));
      raw.dispose();
    } else made.set(name, raw);
  }
  return {
    get: (name) => {
      const w = made.get(name);
      if (!w) throw new Error(`tfjs resnet: no parameter ${name}`);
      return w;
    },
    dispose: () => {
      for (const w of made.values()) w.dispose();
    },
  };
}

function conv(x: tf.Tensor4D, w: Weights, name: string, stride: number, pad: number): tf.Tensor4D {
  return tf.conv2d(x, w(`${name}.weight`) as tf.Tensor4D, stride, [
    [0, 0],
    [pad, pad],
    [pad, pad],
    [0, 0],
  ]);
}

/** GroupNorm on NHWC: statistics over H, W and the channels of each group, then per-channel affine. */
function groupNorm(x: tf.Tensor4D, w: Weights, name: string, groups: number): tf.Tensor4D {
  const [n, h, wd, c] = x.shape;
  const grouped = tf.reshape(x, [n, h, wd, groups, c / groups]);
  const { mean, variance } = tf.moments(grouped, [1, 2, 4], true);
  const normed = tf.reshape(tf.div(tf.sub(grouped, mean), tf.sqrt(tf.add(variance, 1e-5))), [n, h, wd, c]);
  return tf.add(tf.mul(normed, w(`${name}.weight`)), w(`${name}.bias`)) as tf.Tensor4D;
}

function forward(x: tf.Tensor4D, w: Weights, c: ResNetConfig): tf.Tensor2D {
  const mean = tf.tensor1d([...c.inputMean]);
  const scale = tf.tensor1d(c.inputStd.map((s) => 1 / s));
  let h = tf.mul(tf.sub(x, mean), scale) as tf.Tensor4D;
  h = conv(h, w, "stem.conv", c.stem.stride, Math.floor(c.stem.kernel / 2));
  h = tf.relu(groupNorm(h, w, "stem.norm", c.groups));
  if (c.stem.maxPool)
    h = tf.maxPool(
      tf.pad(
        h,
        [
          [0, 0],
          [1, 1],
          [1, 1],
          [0, 0],
        ],
        -Infinity,
      ) as tf.Tensor4D,
      3,
      2,
      "valid",
    );
  const blocks =
    typeof c.blocksPerStage === "number" ? c.widths.map(() => c.blocksPerStage as number) : c.blocksPerStage;
  let channels = c.widths[0];
  c.widths.forEach((width, stage) => {
    for (let i = 0; i < blocks[stage]; i++) {
      const p = `stages.${stage}.blocks.${i}`;
      const stride = stage > 0 && i === 0 ? 2 : 1;
      let r = tf.relu(groupNorm(conv(h, w, `${p}.conv1`, stride, 1), w, `${p}.norm1`, c.groups));
      r = groupNorm(conv(r, w, `${p}.conv2`, 1, 1), w, `${p}.norm2`, c.groups);
      const skip =
        stride !== 1 || channels !== width
          ? groupNorm(conv(h, w, `${p}.shortcut.conv`, stride, 0), w, `${p}.shortcut.norm`, c.groups)
          : h;
      h = tf.relu(tf.add(r, skip)) as tf.Tensor4D;
      channels = width;
    }
  });
  const pooled = tf.mean(h, [1, 2]) as tf.Tensor2D;
  return tf.add(tf.matMul(pooled, w("head.weight") as tf.Tensor2D), w("head.bias")) as tf.Tensor2D;
}

/** A tfjs forward pass of the classifier: NHWC images in, logits out (call `dispose` when done). */
export function tfjsResnet(
  config: ResNetConfig,
  parameters: Map<string, Tensor>,
): { run: (imagesNhwc: tf.Tensor4D) => tf.Tensor2D; dispose: () => void } {
  const weights = weightsOf(parameters);
  return {
    run: (x) => tf.tidy(() => forward(x, weights.get, config)),
    dispose: weights.dispose,
  };
}
