import type { GraphBuilder } from "../graph/builder.js";
import { conv2d, downsample, groupNorm, resBlock, silu, upsample } from "../nn/index.js";

/** A small KL autoencoder (diffusers AutoencoderKL, scaled down, no attention). */
export interface VaeConfig {
  inChannels: number;
  latentChannels: number;
  /** Channels per level, highest resolution first; each level after the first halves H and W. */
  channels: number[];
  groups: number;
}

/** Encoder: image [B, 3, H, W] in [−1, 1] → posterior mean and log-variance [B, latent, H/2^(L−1), …]. */
export function vaeEncoder(b: GraphBuilder, x: string, c: VaeConfig): { mean: string; logvar: string } {
  const moments = b.scope("encoder", () => {
    let h = conv2d(b, "conv_in", x, { inChannels: c.inChannels, outChannels: c.channels[0], kernel: 3 });
    let width = c.channels[0];
    b.scope("down_blocks", () => {
      c.channels.forEach((ch, level) => {
        b.scope(level, () => {
          h = b.scope("resnets", () =>
            resBlock(b, "0", h, undefined, { inChannels: width, outChannels: ch, groups: c.groups }),
          );
          width = ch;
          if (level < c.channels.length - 1) h = b.scope("downsamplers", () => downsample(b, "0", h, ch));
        });
      });
    });
    h = b.scope("mid_block", () =>
      b.scope("resnets", () =>
        resBlock(b, "0", h, undefined, { inChannels: width, outChannels: width, groups: c.groups }),
      ),
    );
    h = silu(b, groupNorm(b, "conv_norm_out", h, { channels: width, groups: c.groups }));
    return conv2d(b, "conv_out", h, { inChannels: width, outChannels: 2 * c.latentChannels, kernel: 3 });
  });
  const q = conv2d(b, "quant_conv", moments, {
    inChannels: 2 * c.latentChannels,
    outChannels: 2 * c.latentChannels,
    kernel: 1,
  });
  const [mean, logvar] = b.opN("Split", [q, b.ints([c.latentChannels, c.latentChannels])], { axis: 1 }, 2);
  return { mean, logvar };
}

/** Decoder: latent [B, latent, h, w] (unscaled) → image [B, 3, H, W] in about [−1, 1]. */
export function vaeDecoder(b: GraphBuilder, z: string, c: VaeConfig): string {
  const q = conv2d(b, "post_quant_conv", z, {
    inChannels: c.latentChannels,
    outChannels: c.latentChannels,
    kernel: 1,
  });
  return b.scope("decoder", () => {
    const top = c.channels[c.channels.length - 1];
    let h = conv2d(b, "conv_in", q, { inChannels: c.latentChannels, outChannels: top, kernel: 3 });
    let width = top;
    h = b.scope("mid_block", () =>
      b.scope("resnets", () =>
        resBlock(b, "0", h, undefined, { inChannels: width, outChannels: width, groups: c.groups }),
      ),
    );
    b.scope("up_blocks", () => {
      for (let k = 0; k < c.channels.length; k++) {
        const level = c.channels.length - 1 - k;
        const ch = c.channels[level];
        b.scope(k, () => {
          h = b.scope("resnets", () =>
            resBlock(b, "0", h, undefined, { inChannels: width, outChannels: ch, groups: c.groups }),
          );
          width = ch;
          if (level > 0) h = b.scope("upsamplers", () => upsample(b, "0", h, ch));
        });
      }
    });
    h = silu(b, groupNorm(b, "conv_norm_out", h, { channels: width, groups: c.groups }));
    return conv2d(b, "conv_out", h, { inChannels: width, outChannels: c.inChannels, kernel: 3 });
  });
}
