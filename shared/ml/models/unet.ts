import { GraphBuilder } from "../graph/builder.js";
import type { Dim, Graph } from "../graph/ir.js";
import { silu } from "../nn/activation.js";
import { resBlock, spatialTransformer, timestepEmbedding, timestepFeatures } from "../nn/blocks.js";
import { conv2d, downsample, upsample } from "../nn/conv.js";
import { groupNorm } from "../nn/norm.js";

/** A latent-diffusion UNet (the shape of diffusers' UNet2DConditionModel, scaled down). */
export interface UNetConfig {
  /** Latent channels in and out (4 for a Stable-Diffusion-style VAE). */
  inChannels: number;
  outChannels: number;
  /** Channels of each resolution level, highest resolution first; each level after the first halves H, W. */
  channels: number[];
  /** Whether each level has attention (self, plus cross-attention when `contextDim` is set). */
  attention: boolean[];
  /** Residual blocks per level on the way down (the way up has one more, as in diffusers). */
  layersPerLevel: number;
  /** Width of the conditioning sequence (text-encoder hidden size); omit for an unconditional UNet. */
  contextDim?: number;
  heads: number;
  /** GroupNorm groups (must divide every channel count). */
  groups: number;
  /** Time-embedding width (default 4 × channels[0]). */
  timeDim?: number;
  /** Transformer feed-forward multiplier (default 4). */
  ffMult?: number;
  /** Extra input channels concatenated to the latent (image conditioning, InstructPix2Pix style). */
  conditionChannels?: number;
}

/** Names of a UNet graph's inputs and output. */
export interface UNetGraph {
  graph: Graph;
  /** [batch, in(+condition) channels, height, width] latent. */
  sample: string;
  /** [batch] float timesteps. */
  timestep: string;
  /** [batch, tokens, contextDim] conditioning sequence (when configured). */
  context?: string;
  /** [batch, out channels, height, width] prediction (noise or v). */
  output: string;
}

/**
 * Emits the UNet on `b` from the given inputs. Parameters follow diffusers names (`conv_in`,
 * `time_embedding.linear_1`, `down_blocks.0.resnets.0.conv1`, `down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k`, …,
 * `mid_block`, `up_blocks`, `conv_norm_out`, `conv_out`) so adapters can be matched to them.
 */
export function unet(
  b: GraphBuilder,
  sample: string,
  timestep: string,
  context: string | undefined,
  c: UNetConfig,
): string {
  const levels = c.channels.length;
  if (c.attention.length !== levels) throw new Error("unet: one attention flag per level");
  for (const ch of c.channels)
    if (ch % c.groups !== 0) throw new Error(`unet: ${c.groups} groups do not divide ${ch}`);
  const timeDim = c.timeDim ?? 4 * c.channels[0];
  const inChannels = c.inChannels + (c.conditionChannels ?? 0);
  const ctx = c.contextDim ? context : undefined;
  const attend = (name: string, x: string, channels: number) =>
    spatialTransformer(b, name, x, ctx, {
      channels,
      groups: c.groups,
      dim: channels,
      heads: c.heads,
      contextDim: c.contextDim,
      ffMult: c.ffMult,
    });

  const temb = timestepEmbedding(
    b,
    "time_embedding",
    timestepFeatures(b, timestep, c.channels[0]),
    c.channels[0],
    timeDim,
  );
  let h = conv2d(b, "conv_in", sample, { inChannels, outChannels: c.channels[0], kernel: 3 });
  const skips: { value: string; channels: number }[] = [{ value: h, channels: c.channels[0] }];
  let width = c.channels[0];

  b.scope("down_blocks", () => {
    for (let level = 0; level < levels; level++) {
      b.scope(level, () => {
        const out = c.channels[level];
        for (let j = 0; j < c.layersPerLevel; j++) {
          h = b.scope("resnets", () =>
            resBlock(b, String(j), h, temb, {
              inChannels: width,
              outChannels: out,
              groups: c.groups,
              tembDim: timeDim,
            }),
          );
          width = out;
          if (c.attention[level]) h = b.scope("attentions", () => attend(String(j), h, out));
          skips.push({ value: h, channels: out });
        }
        if (level < levels - 1) {
          h = b.scope("downsamplers", () => downsample(b, "0", h, out));
          skips.push({ value: h, channels: out });
        }
      });
    }
  });

  b.scope("mid_block", () => {
    const opts = { inChannels: width, outChannels: width, groups: c.groups, tembDim: timeDim };
    h = b.scope("resnets", () => resBlock(b, "0", h, temb, opts));
    if (c.attention.some(Boolean)) h = b.scope("attentions", () => attend("0", h, width));
    h = b.scope("resnets", () => resBlock(b, "1", h, temb, opts));
  });

  b.scope("up_blocks", () => {
    for (let k = 0; k < levels; k++) {
      const level = levels - 1 - k;
      b.scope(k, () => {
        const out = c.channels[level];
        for (let j = 0; j <= c.layersPerLevel; j++) {
          const skip = skips.pop();
          if (!skip) throw new Error("unet: skip connections exhausted");
          const joined = b.op("Concat", [h, skip.value], { axis: 1 });
          h = b.scope("resnets", () =>
            resBlock(b, String(j), joined, temb, {
              inChannels: width + skip.channels,
              outChannels: out,
              groups: c.groups,
              tembDim: timeDim,
            }),
          );
          width = out;
          if (c.attention[level]) h = b.scope("attentions", () => attend(String(j), h, out));
        }
        if (level > 0) h = b.scope("upsamplers", () => upsample(b, "0", h, out));
      });
    }
  });

  h = silu(b, groupNorm(b, "conv_norm_out", h, { channels: width, groups: c.groups }));
  return conv2d(b, "conv_out", h, { inChannels: width, outChannels: c.outChannels, kernel: 3 });
}

export interface UNetGraphOptions {
  /** Batch dim (default the symbol "batch"). */
  batch?: Dim;
  height: Dim;
  width: Dim;
  /** Context sequence length (default the symbol "tokens"). */
  tokens?: Dim;
  seed?: number;
}

/** A standalone UNet graph with inputs `sample`, `timestep`, `encoder_hidden_states` and output `out_sample`. */
export function unetGraph(config: UNetConfig, o: UNetGraphOptions): UNetGraph {
  const b = new GraphBuilder({ name: "unet", seed: o.seed ?? 0 });
  const batch = o.batch ?? "batch";
  const sample = b.input("sample", [
    batch,
    config.inChannels + (config.conditionChannels ?? 0),
    o.height,
    o.width,
  ]);
  const timestep = b.input("timestep", [batch]);
  const context = config.contextDim
    ? b.input("encoder_hidden_states", [batch, o.tokens ?? "tokens", config.contextDim])
    : undefined;
  const output = b.output(unet(b, sample, timestep, context, config), "out_sample");
  return { graph: b.graph, sample, timestep, context, output };
}

/** Number of parameter elements of a graph. */
export function parameterCount(graph: Graph): number {
  let n = 0;
  for (const p of graph.params) n += graph.initializers.get(p)?.data.length ?? 0;
  return n;
}
