import type { GraphBuilder } from "../graph/builder.js";
import { kaimingNormal, zeros } from "./init.js";

export interface Conv2dOptions {
  inChannels: number;
  outChannels: number;
  kernel: number;
  stride?: number;
  /** Symmetric padding (default kernel/2, "same" for odd kernels at stride 1). */
  padding?: number;
  groups?: number;
  bias?: boolean;
  /** Init gain (√2 for ReLU-family; pass a small value for zero-ish output layers). */
  gain?: number;
}

/** NCHW 2-D convolution; parameters `${name}.weight` [out, in/groups, k, k] and `${name}.bias` [out]. */
export function conv2d(b: GraphBuilder, name: string, x: string, o: Conv2dOptions): string {
  const groups = o.groups ?? 1;
  const pad = o.padding ?? Math.floor(o.kernel / 2);
  const stride = o.stride ?? 1;
  return b.scope(name, () => {
    const fanIn = (o.inChannels / groups) * o.kernel * o.kernel;
    const dims = [o.outChannels, o.inChannels / groups, o.kernel, o.kernel];
    const w = b.param("weight", kaimingNormal(b.rng, b.dtype, dims, fanIn, o.gain));
    const inputs = [x, w];
    if (o.bias !== false) inputs.push(b.param("bias", zeros(b.dtype, [o.outChannels])));
    return b.op("Conv", inputs, {
      kernel_shape: [o.kernel, o.kernel],
      strides: [stride, stride],
      pads: [pad, pad, pad, pad],
      group: groups,
    });
  });
}

/** Halves H and W with a stride-2 3×3 convolution. */
export function downsample(b: GraphBuilder, name: string, x: string, channels: number): string {
  return conv2d(b, name, x, {
    inChannels: channels,
    outChannels: channels,
    kernel: 3,
    stride: 2,
    padding: 1,
  });
}

/** Doubles H and W: nearest-neighbour resize, then a 3×3 convolution (`${name}.conv`). */
export function upsample(b: GraphBuilder, name: string, x: string, channels: number): string {
  const scales = b.constant({ dtype: 1, dims: [4], data: Float32Array.of(1, 1, 2, 2) });
  const up = b.op("Resize", [x, "", scales], {
    mode: "nearest",
    nearest_mode: "floor",
    coordinate_transformation_mode: "asymmetric",
  });
  return b.scope(name, () =>
    conv2d(b, "conv", up, { inChannels: channels, outChannels: channels, kernel: 3 }),
  );
}
