import { GraphBuilder } from "../graph/builder.js";
import type { Dim, Graph } from "../graph/ir.js";
import { relu } from "../nn/activation.js";
import { conv2d } from "../nn/conv.js";
import { zeros } from "../nn/init.js";
import { linear } from "../nn/linear.js";
import { softmaxCrossEntropy } from "../nn/loss.js";
import { groupNorm } from "../nn/norm.js";
import { globalAvgPool, maxPool2d } from "../nn/pool.js";
import { parameterCount } from "./unet.js";

/** The stem: the first convolution, and how much it (and an optional max pool) downsamples. */
interface ResNetStem {
  /** Square kernel of the stem convolution (3 for 28–32 px, 7 for ImageNet-size inputs). */
  readonly kernel: number;
  /** Stride of the stem convolution (1 for 28–32 px, 2 for bigger inputs). */
  readonly stride: number;
  /** A 3×3 stride-2 max pool after the stem (ImageNet ResNets; off for small inputs). */
  readonly maxPool: boolean;
}

/**
 * A ResNet-style classifier (He et al. 2016, basic blocks) with GroupNorm instead of BatchNorm, so the
 * training and inference graphs compute the same function (no batch statistics, no running averages).
 */
export interface ResNetConfig {
  readonly inChannels: number;
  readonly numClasses: number;
  /** Input height and width (square images). */
  readonly imageSize: number;
  /** Channels of each stage; every stage after the first halves H and W. */
  readonly widths: readonly number[];
  /** Basic blocks per stage (one number for all stages, or one per stage). */
  readonly blocksPerStage: number | readonly number[];
  /** GroupNorm groups (each width must be divisible by it). */
  readonly groups: number;
  readonly stem: ResNetStem;
  /** Per-channel normalisation applied in-graph to [0, 1] pixels: (x − mean) / std. */
  readonly inputMean: readonly number[];
  readonly inputStd: readonly number[];
  /**
   * Start each block's last GroupNorm scale at 0 so every block begins as the identity (Goyal et al. 2017).
   * Off by default: with GroupNorm and the short schedules diffda runs (hundreds to a few thousand steps)
   * it slowed training here (Fashion-MNIST 5,000 images, 117 AdamW steps: train loss 1.70 with, 1.46
   * without); it helps deep nets trained long with large batches.
   */
  readonly zeroInitResidual: boolean;
}

/** The fields a caller must give; the rest take {@link resnetConfig}'s defaults. */
export type ResNetConfigInit = Pick<ResNetConfig, "inChannels" | "numClasses"> & Partial<ResNetConfig>;

/** Name of the image input: [batch, C, H, W] float32 in [0, 1]. */
export const RESNET_INPUT = "images";
/** Name of the logits output: [batch, numClasses]. */
export const RESNET_OUTPUT = "logits";
/** Name of the soft-target input of the training graph: [batch, numClasses], rows summing to 1. */
export const RESNET_TARGETS = "targets";
/** Name of the scalar loss output of the training graph. */
export const RESNET_LOSS = "loss";

/**
 * A full config: widths [32, 64, 128], one block per stage, GroupNorm with 8 groups, a 3×3 stride-1 stem
 * for 32 px inputs, pixels mapped to [−1, 1], residual branches initialised like the rest.
 */
export function resnetConfig(init: ResNetConfigInit): ResNetConfig {
  const config: ResNetConfig = {
    imageSize: 32,
    widths: [32, 64, 128],
    blocksPerStage: 1,
    groups: 8,
    stem: { kernel: 3, stride: 1, maxPool: false },
    inputMean: Array.from({ length: init.inChannels }, () => 0.5),
    inputStd: Array.from({ length: init.inChannels }, () => 0.5),
    zeroInitResidual: false,
    ...init,
  };
  validateResNetConfig(config);
  return config;
}

function positiveInt(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new Error(`resnet: ${name} must be a positive integer, got ${v}`);
}

/** Throws on an inconsistent config (bad counts, widths not divisible by the groups, wrong mean/std length). */
export function validateResNetConfig(c: ResNetConfig): void {
  positiveInt("inChannels", c.inChannels);
  positiveInt("numClasses", c.numClasses);
  positiveInt("imageSize", c.imageSize);
  positiveInt("groups", c.groups);
  positiveInt("stem.kernel", c.stem.kernel);
  positiveInt("stem.stride", c.stem.stride);
  if (c.widths.length === 0) throw new Error("resnet: widths must not be empty");
  for (const w of c.widths) {
    positiveInt("width", w);
    if (w % c.groups !== 0) throw new Error(`resnet: width ${w} is not divisible by ${c.groups} groups`);
  }
  const blocks = stageBlocks(c);
  if (blocks.length !== c.widths.length) {
    throw new Error(`resnet: blocksPerStage has ${blocks.length} entries for ${c.widths.length} stages`);
  }
  for (const n of blocks) positiveInt("blocksPerStage", n);
  if (c.inputMean.length !== c.inChannels || c.inputStd.length !== c.inChannels) {
    throw new Error(`resnet: inputMean and inputStd need ${c.inChannels} entries`);
  }
  if (c.inputStd.some((s) => !(s > 0))) throw new Error("resnet: inputStd entries must be > 0");
  if (featureSize(c) < 1) throw new Error(`resnet: ${c.imageSize} px is too small for this stem and depth`);
}

function stageBlocks(c: ResNetConfig): number[] {
  return typeof c.blocksPerStage === "number"
    ? c.widths.map(() => c.blocksPerStage as number)
    : [...c.blocksPerStage];
}

const convOut = (size: number, kernel: number, stride: number, pad: number) =>
  Math.floor((size + 2 * pad - kernel) / stride) + 1;

/** Side of the last stage's feature map. */
export function featureSize(c: ResNetConfig): number {
  let s = convOut(c.imageSize, c.stem.kernel, c.stem.stride, Math.floor(c.stem.kernel / 2));
  if (c.stem.maxPool) s = convOut(s, 3, 2, 1);
  for (let i = 1; i < c.widths.length; i++) s = convOut(s, 3, 2, 1);
  return s;
}

/**
 * Basic block: conv3×3(stride) → GN → ReLU → conv3×3 → GN, plus the input (through a 1×1 strided
 * convolution and GN when the shape changes), then ReLU.
 */
function basicBlock(
  b: GraphBuilder,
  name: string,
  x: string,
  c: ResNetConfig,
  inC: number,
  outC: number,
  stride: number,
): string {
  return b.scope(name, () => {
    const g = c.groups;
    let h = conv2d(b, "conv1", x, { inChannels: inC, outChannels: outC, kernel: 3, stride, bias: false });
    h = relu(b, groupNorm(b, "norm1", h, { channels: outC, groups: g }));
    h = conv2d(b, "conv2", h, { inChannels: outC, outChannels: outC, kernel: 3, bias: false });
    h = groupNorm(b, "norm2", h, { channels: outC, groups: g });
    if (c.zeroInitResidual) {
      const scale = b.qualify("norm2.weight");
      b.graph.initializers.set(scale, zeros(b.dtype, [outC]));
    }
    let skip = x;
    if (stride !== 1 || inC !== outC) {
      skip = b.scope("shortcut", () => {
        const s = conv2d(b, "conv", x, {
          inChannels: inC,
          outChannels: outC,
          kernel: 1,
          stride,
          padding: 0,
          bias: false,
        });
        return groupNorm(b, "norm", s, { channels: outC, groups: g });
      });
    }
    return relu(b, b.op("Add", [h, skip]));
  });
}

/** Emits the network on `b` from the image input `x`; returns the logits value. */
export function resnet(b: GraphBuilder, x: string, c: ResNetConfig): string {
  const perChannel = [1, c.inChannels, 1, 1];
  const scale = c.inputStd.map((s) => 1 / s);
  let h = b.op("Mul", [b.op("Sub", [x, b.floats(perChannel, c.inputMean)]), b.floats(perChannel, scale)]);
  const w0 = c.widths[0];
  h = b.scope("stem", () => {
    let s = conv2d(b, "conv", h, {
      inChannels: c.inChannels,
      outChannels: w0,
      kernel: c.stem.kernel,
      stride: c.stem.stride,
      bias: false,
    });
    s = relu(b, groupNorm(b, "norm", s, { channels: w0, groups: c.groups }));
    return c.stem.maxPool ? maxPool2d(b, s, 3, 2, 1) : s;
  });
  const blocks = stageBlocks(c);
  let channels = w0;
  b.scope("stages", () => {
    c.widths.forEach((width, stage) => {
      b.scope(stage, () => {
        for (let i = 0; i < blocks[stage]; i++) {
          const stride = stage > 0 && i === 0 ? 2 : 1;
          h = basicBlock(b, `blocks.${i}`, h, c, channels, width, stride);
          channels = width;
        }
      });
    });
  });
  return linear(b, "head", globalAvgPool(b, h), { inFeatures: channels, outFeatures: c.numClasses });
}

/** A built classifier graph. */
export interface ResNetGraph {
  readonly graph: Graph;
  readonly config: ResNetConfig;
  /** Trainable parameters (weights, norm scales and shifts, biases). */
  readonly parameterCount: number;
}

function start(c: ResNetConfig, seed: number, batch: Dim): { b: GraphBuilder; logits: string } {
  validateResNetConfig(c);
  const b = new GraphBuilder({ name: "resnet", seed });
  const x = b.input(RESNET_INPUT, [batch, c.inChannels, c.imageSize, c.imageSize]);
  const logits = resnet(b, x, c);
  b.output(logits, RESNET_OUTPUT);
  b.graph.metadata.set("diffda.model", "resnet");
  b.graph.metadata.set("diffda.config", JSON.stringify(c));
  return { b, logits };
}

/**
 * The inference graph: input `images` [batch, C, H, W] in [0, 1], output `logits` [batch, K]. Parameters
 * are initialised from `seed` (the same seed gives the same weights).
 */
export function buildResNet(config: ResNetConfig, seed = 0, batch: Dim = "batch"): ResNetGraph {
  const { b } = start(config, seed, batch);
  return { graph: b.graph, config, parameterCount: parameterCount(b.graph) };
}

/** Options of {@link buildResNetTraining}. */
export interface ResNetTrainingOptions {
  readonly seed?: number;
  /** Label smoothing ε mixed into the soft targets inside the loss (default 0). */
  readonly labelSmoothing?: number;
  /** The batch dimension: symbolic "batch" (default) or a fixed size. */
  readonly batch?: Dim;
}

/**
 * The training graph: the inference graph plus input `targets` [batch, K] (soft labels) and the scalar
 * output `loss`, the batch mean of softmax cross-entropy with optional label smoothing. Same seed, same
 * initial weights as {@link buildResNet}.
 */
export function buildResNetTraining(config: ResNetConfig, options: ResNetTrainingOptions = {}): ResNetGraph {
  const batch = options.batch ?? "batch";
  const { b, logits } = start(config, options.seed ?? 0, batch);
  const targets = b.input(RESNET_TARGETS, [batch, config.numClasses]);
  const loss = softmaxCrossEntropy(b, logits, targets, {
    classes: config.numClasses,
    labelSmoothing: options.labelSmoothing ?? 0,
  });
  b.output(loss, RESNET_LOSS);
  return { graph: b.graph, config, parameterCount: parameterCount(b.graph) };
}

/** The short config of {@link resnetGraph}. */
export interface SmallResNetOptions {
  readonly inChannels: number;
  readonly classes: number;
  readonly widths: readonly number[];
  readonly blocks: number;
  readonly groups: number;
}

/**
 * The training graph from a short config and input size (square): inputs `images` and `targets`, outputs
 * `logits` and `loss`. Other fields take {@link resnetConfig}'s defaults.
 */
export function resnetGraph(
  c: SmallResNetOptions,
  o: { batch?: Dim; height: number; width: number; seed?: number; labelSmoothing?: number },
): { graph: Graph; logits: string; loss: string } {
  if (o.height !== o.width) throw new Error(`resnet: square inputs only, got ${o.height}×${o.width}`);
  const config = resnetConfig({
    inChannels: c.inChannels,
    numClasses: c.classes,
    imageSize: o.height,
    widths: c.widths,
    blocksPerStage: c.blocks,
    groups: c.groups,
  });
  const { graph } = buildResNetTraining(config, {
    seed: o.seed,
    labelSmoothing: o.labelSmoothing,
    batch: o.batch,
  });
  return { graph, logits: RESNET_OUTPUT, loss: RESNET_LOSS };
}

/** Multiply–accumulate operations of one forward pass for one image (convolutions and the head). */
export function resnetMacs(c: ResNetConfig): number {
  let s = convOut(c.imageSize, c.stem.kernel, c.stem.stride, Math.floor(c.stem.kernel / 2));
  let macs = s * s * c.widths[0] * c.inChannels * c.stem.kernel ** 2;
  if (c.stem.maxPool) s = convOut(s, 3, 2, 1);
  const blocks = stageBlocks(c);
  let inC = c.widths[0];
  c.widths.forEach((w, stage) => {
    for (let i = 0; i < blocks[stage]; i++) {
      const stride = stage > 0 && i === 0 ? 2 : 1;
      const out = convOut(s, 3, stride, 1);
      macs += out * out * w * inC * 9 + out * out * w * w * 9;
      if (stride !== 1 || inC !== w) macs += out * out * w * inC;
      s = out;
      inC = w;
    }
  });
  return macs + inC * c.numClasses;
}
