import type { GraphBuilder } from "../graph/builder.js";
import { silu } from "./activation.js";
import { type TransformerBlockOptions, transformerBlock } from "./attention.js";
import { conv2d } from "./conv.js";
import { linear } from "./linear.js";
import { groupNorm } from "./norm.js";

export interface ResBlockOptions {
  inChannels: number;
  outChannels: number;
  groups: number;
  /** Width of the time embedding injected after the first convolution (omit for none). */
  tembDim?: number;
}

/**
 * Residual block (diffusers ResnetBlock2D): GN→SiLU→conv1, plus the projected time embedding broadcast
 * over H and W, GN→SiLU→conv2, plus the input (through a 1×1 `conv_shortcut` when widths differ).
 */
export function resBlock(
  b: GraphBuilder,
  name: string,
  x: string,
  temb: string | undefined,
  o: ResBlockOptions,
): string {
  return b.scope(name, () => {
    let h = groupNorm(b, "norm1", x, { channels: o.inChannels, groups: o.groups });
    h = conv2d(b, "conv1", silu(b, h), { inChannels: o.inChannels, outChannels: o.outChannels, kernel: 3 });
    if (temb && o.tembDim) {
      const t = linear(b, "time_emb_proj", silu(b, temb), {
        inFeatures: o.tembDim,
        outFeatures: o.outChannels,
      });
      h = b.op("Add", [h, b.op("Unsqueeze", [t, b.ints([2, 3])])]);
    }
    h = groupNorm(b, "norm2", h, { channels: o.outChannels, groups: o.groups });
    h = conv2d(b, "conv2", silu(b, h), { inChannels: o.outChannels, outChannels: o.outChannels, kernel: 3 });
    const skip =
      o.inChannels === o.outChannels
        ? x
        : conv2d(b, "conv_shortcut", x, { inChannels: o.inChannels, outChannels: o.outChannels, kernel: 1 });
    return b.op("Add", [skip, h]);
  });
}

export interface SpatialTransformerOptions extends TransformerBlockOptions {
  channels: number;
  groups: number;
}

/**
 * Attention over the pixels of an NCHW map (diffusers Transformer2DModel with linear projections):
 * GN → [B, HW, C] → `proj_in` → transformer block(s) → `proj_out` → back to NCHW, plus the input.
 */
export function spatialTransformer(
  b: GraphBuilder,
  name: string,
  x: string,
  context: string | undefined,
  o: SpatialTransformerOptions,
): string {
  return b.scope(name, () => {
    const c = o.channels;
    const normed = groupNorm(b, "norm", x, { channels: c, groups: o.groups });
    const seq = b.op("Transpose", [b.op("Reshape", [normed, b.ints([0, c, -1])])], { perm: [0, 2, 1] });
    let h = linear(b, "proj_in", seq, { inFeatures: c, outFeatures: o.dim });
    h = b.scope("transformer_blocks", () => transformerBlock(b, "0", h, context, o));
    h = linear(b, "proj_out", h, { inFeatures: o.dim, outFeatures: c });
    const map = b.op("Reshape", [b.op("Transpose", [h], { perm: [0, 2, 1] }), b.op("Shape", [x])]);
    return b.op("Add", [x, map]);
  });
}

/**
 * Sinusoidal timestep features [B, dim] from timesteps [B] (float): cos then sin of t·10000^(−i/half),
 * as diffusers' Timesteps(flip_sin_to_cos=True, shift=0).
 */
export function timestepFeatures(b: GraphBuilder, t: string, dim: number, maxPeriod = 10000): string {
  const half = dim / 2;
  const freqs = Array.from({ length: half }, (_, i) => Math.exp((-Math.log(maxPeriod) * i) / half));
  const args = b.op("Mul", [b.op("Unsqueeze", [t, b.ints([1])]), b.floats([half], freqs)]);
  return b.op("Concat", [b.op("Cos", [args]), b.op("Sin", [args])], { axis: -1 });
}

/** Timestep embedding MLP (diffusers TimestepEmbedding): `linear_1` → SiLU → `linear_2`. */
export function timestepEmbedding(
  b: GraphBuilder,
  name: string,
  features: string,
  inDim: number,
  dim: number,
): string {
  return b.scope(name, () => {
    const h = silu(b, linear(b, "linear_1", features, { inFeatures: inDim, outFeatures: dim }));
    return linear(b, "linear_2", h, { inFeatures: dim, outFeatures: dim });
  });
}
