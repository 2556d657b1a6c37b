import { GraphBuilder } from "../graph/builder.js";
import type { Dim, Graph } from "../graph/ir.js";
import { relu } from "../nn/activation.js";
import { conv2d } from "../nn/conv.js";
import { linear } from "../nn/linear.js";
import { softmaxCrossEntropy } from "../nn/loss.js";
import { groupNorm } from "../nn/norm.js";
import { globalAvgPool } from "../nn/pool.js";

/** A small pre-activation-free ResNet for 28–32 px images, with GroupNorm instead of BatchNorm. */
export interface ResNetConfig {
  inChannels: number;
  classes: number;
  /** Channels per stage; every stage after the first halves H and W. */
  widths: number[];
  /** Basic blocks per stage. */
  blocks: number;
  /** GroupNorm groups (must divide every width). */
  groups: number;
}

function basicBlock(
  b: GraphBuilder,
  name: string,
  x: string,
  cin: number,
  cout: number,
  stride: number,
  groups: number,
): string {
  return b.scope(name, () => {
    let h = conv2d(b, "conv1", x, { inChannels: cin, outChannels: cout, kernel: 3, stride, bias: false });
    h = relu(b, groupNorm(b, "norm1", h, { channels: cout, groups }));
    h = conv2d(b, "conv2", h, { inChannels: cout, outChannels: cout, kernel: 3, bias: false });
    h = groupNorm(b, "norm2", h, { channels: cout, groups });
    const skip =
      stride === 1 && cin === cout
        ? x
        : conv2d(b, "downsample", x, {
            inChannels: cin,
            outChannels: cout,
            kernel: 1,
            stride,
            padding: 0,
            bias: false,
          });
    return relu(b, b.op("Add", [h, skip]));
  });
}

/** Emits the network on `b`: stem conv → stages of basic blocks → global average pool → `fc` logits. */
export function resnet(b: GraphBuilder, x: string, c: ResNetConfig): string {
  let h = relu(
    b,
    groupNorm(
      b,
      "stem.norm",
      conv2d(b, "stem.conv", x, {
        inChannels: c.inChannels,
        outChannels: c.widths[0],
        kernel: 3,
        bias: false,
      }),
      {
        channels: c.widths[0],
        groups: c.groups,
      },
    ),
  );
  let width = c.widths[0];
  c.widths.forEach((w, stage) => {
    for (let k = 0; k < c.blocks; k++) {
      const stride = stage > 0 && k === 0 ? 2 : 1;
      h = basicBlock(b, `layer${stage + 1}.${k}`, h, width, w, stride, c.groups);
      width = w;
    }
  });
  return linear(b, "fc", globalAvgPool(b, h), { inFeatures: width, outFeatures: c.classes });
}

/** A classifier graph: inputs `images` [batch, C, H, W] and soft `targets` [batch, classes]; outputs `logits`, `loss`. */
export function resnetGraph(
  c: ResNetConfig,
  o: { batch?: Dim; height: Dim; width: Dim; seed?: number; labelSmoothing?: number },
): { graph: Graph; logits: string; loss: string } {
  const b = new GraphBuilder({ name: "resnet", seed: o.seed ?? 0 });
  const batch = o.batch ?? "batch";
  const images = b.input("images", [batch, c.inChannels, o.height, o.width]);
  const targets = b.input("targets", [batch, c.classes]);
  const logits = b.output(resnet(b, images, c), "logits");
  const loss = b.output(
    softmaxCrossEntropy(b, logits, targets, { classes: c.classes, labelSmoothing: o.labelSmoothing }),
    "loss",
  );
  return { graph: b.graph, logits, loss };
}
