import type { GraphBuilder } from "../graph/builder.js";
import { conv2d, globalAvgPool, groupNorm, linear, silu } from "../nn/index.js";

/** A small convolutional CLIP image tower. */
export interface ImageEncoderConfig {
  inChannels: number;
  /** Channels per stage; every stage after the first halves H and W with a stride-2 convolution. */
  channels: number[];
  groups: number;
  /** Width of the joint embedding space. */
  embedDim: number;
}

/**
 * Conv → GN → SiLU stages (stride 2 from the second on), a residual 3×3 conv per stage, global average pooling,
 * then `visual_projection` into the joint space: [batch, embedDim] (not normalised).
 */
export function imageEncoder(b: GraphBuilder, x: string, c: ImageEncoderConfig): string {
  return b.scope("vision_model", () => {
    let h = x;
    let width = c.inChannels;
    c.channels.forEach((ch, i) => {
      b.scope("stages", () =>
        b.scope(i, () => {
          h = conv2d(b, "conv", h, {
            inChannels: width,
            outChannels: ch,
            kernel: 3,
            stride: i === 0 ? 1 : 2,
            padding: 1,
          });
          h = silu(b, groupNorm(b, "norm", h, { channels: ch, groups: c.groups }));
          const r = conv2d(b, "res", h, { inChannels: ch, outChannels: ch, kernel: 3 });
          h = b.op("Add", [h, silu(b, groupNorm(b, "res_norm", r, { channels: ch, groups: c.groups }))]);
        }),
      );
      width = ch;
    });
    return linear(b, "visual_projection", globalAvgPool2(b, h), {
      inFeatures: width,
      outFeatures: c.embedDim,
      bias: false,
    });
  });
}

function globalAvgPool2(b: GraphBuilder, h: string): string {
  return b.op("Flatten", [globalAvgPool(b, h)], { axis: 1 });
}

/** Text features [batch, width] → the joint space through `text_projection` (no bias). */
export function textProjection(b: GraphBuilder, pooled: string, width: number, embedDim: number): string {
  return linear(b, "text_projection", pooled, { inFeatures: width, outFeatures: embedDim, bias: false });
}

/** Rows scaled to unit L2 norm. */
export function l2Normalize(b: GraphBuilder, x: string): string {
  const norm = b.op("Sqrt", [
    b.op("Add", [b.op("ReduceSum", [b.op("Mul", [x, x]), b.ints([-1])], { keepdims: 1 }), b.scalar(1e-8)]),
  ]);
  return b.op("Div", [x, norm]);
}

/**
 * Symmetric InfoNCE of CLIP: logits = exp(logit_scale)·îᵀt̂ [B, B]; cross-entropy of images → texts and texts →
 * images against `targets` [B, B] (rows sum to 1; identical captions in a batch share the mass). The
 * temperature `logit_scale` is a learned scalar initialised to log(1/0.07). Returns the loss and the logits.
 */
export function clipLoss(
  b: GraphBuilder,
  imageEmbeds: string,
  textEmbeds: string,
  targets: string,
): { loss: string; logits: string } {
  const scale = b.param("logit_scale", {
    dtype: b.dtype,
    dims: [],
    data: Float32Array.of(Math.log(1 / 0.07)),
  });
  const img = l2Normalize(b, imageEmbeds);
  const txt = l2Normalize(b, textEmbeds);
  const sims = b.op("MatMul", [img, b.op("Transpose", [txt], { perm: [1, 0] })]);
  const logits = b.op("Mul", [sims, b.op("Exp", [scale])]);
  const ce = (l: string) => {
    const logp = b.op("LogSoftmax", [l], { axis: -1 });
    return b.op("Neg", [
      b.op("ReduceMean", [b.op("ReduceSum", [b.op("Mul", [targets, logp]), b.ints([-1])], { keepdims: 0 })], {
        keepdims: 0,
      }),
    ]);
  };
  const loss = b.op("Mul", [
    b.op("Add", [ce(logits), ce(b.op("Transpose", [logits], { perm: [1, 0] }))]),
    b.scalar(0.5),
  ]);
  return { loss, logits };
}
