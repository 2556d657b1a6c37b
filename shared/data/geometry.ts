import { DataError } from "./errors.js";
import { type ImageSet, imageCount, imageSize, withImages } from "./image-set.js";

/** Shape of one CHW image. */
export interface ImageShape {
  readonly channels: number;
  readonly height: number;
  readonly width: number;
}

/**
 * Bilinear resize of one CHW image with half-pixel centres (PyTorch `align_corners=False`, no antialias):
 * right for small factors such as 28→32; large downscales should go through sharp at decode time instead.
 */
export function resizeChw(
  src: Float32Array,
  shape: ImageShape,
  height: number,
  width: number,
  out: Float32Array = new Float32Array(shape.channels * height * width),
): Float32Array {
  const { channels, height: inH, width: inW } = shape;
  const scaleY = inH / height;
  const scaleX = inW / width;
  // Source taps and weights per output column/row, computed once for all channels.
  const x0 = new Int32Array(width);
  const x1 = new Int32Array(width);
  const wx = new Float32Array(width);
  for (let x = 0; x < width; x++) {
    const sx = Math.max((x + 0.5) * scaleX - 0.5, 0);
    x0[x] = Math.min(Math.floor(sx), inW - 1);
    x1[x] = Math.min(x0[x] + 1, inW - 1);
    wx[x] = sx - x0[x];
  }
  for (let y = 0; y < height; y++) {
    const sy = Math.max((y + 0.5) * scaleY - 0.5, 0);
    const y0 = Math.min(Math.floor(sy), inH - 1);
    const y1 = Math.min(y0 + 1, inH - 1);
    const wy = sy - y0;
    for (let c = 0; c < channels; c++) {
      const row0 = (c * inH + y0) * inW;
      const row1 = (c * inH + y1) * inW;
      const dst = (c * height + y) * width;
      for (let x = 0; x < width; x++) {
        const top = src[row0 + x0[x]] + (src[row0 + x1[x]] - src[row0 + x0[x]]) * wx[x];
        const bottom = src[row1 + x0[x]] + (src[row1 + x1[x]] - src[row1 + x0[x]]) * wx[x];
        out[dst + x] = top + (bottom - top) * wy;
      }
    }
  }
  return out;
}

/** Every image of a set resized (bilinear) to `height`×`width`. */
export function resizeImageSet(set: ImageSet, height: number, width: number): ImageSet {
  if (!Number.isInteger(height) || !Number.isInteger(width) || height <= 0 || width <= 0) {
    throw new DataError("invalid_argument", `target size must be positive integers, got ${height}×${width}`);
  }
  if (height === set.height && width === set.width) return set;
  const inSize = imageSize(set);
  const outSize = set.channels * height * width;
  const images = new Float32Array(imageCount(set) * outSize);
  for (let i = 0; i < imageCount(set); i++) {
    resizeChw(
      set.images.subarray(i * inSize, (i + 1) * inSize),
      set,
      height,
      width,
      images.subarray(i * outSize, (i + 1) * outSize),
    );
  }
  return withImages(set, images, { channels: set.channels, height, width });
}

/** Border widths in pixels. */
export interface Padding {
  readonly top: number;
  readonly bottom: number;
  readonly left: number;
  readonly right: number;
}

/** Pads one CHW image with a constant value. */
export function padChw(src: Float32Array, shape: ImageShape, pad: Padding, value = 0): Float32Array {
  const { channels, height, width } = shape;
  const outH = height + pad.top + pad.bottom;
  const outW = width + pad.left + pad.right;
  const out = new Float32Array(channels * outH * outW);
  if (value !== 0) out.fill(value);
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < height; y++) {
      const from = (c * height + y) * width;
      out.set(src.subarray(from, from + width), (c * outH + y + pad.top) * outW + pad.left);
    }
  }
  return out;
}

/**
 * Pads every image, centred, to `height`×`width` (28→32 adds 2 on each side, as LeNet-style nets expect);
 * an odd remainder goes to the bottom/right.
 */
export function padImageSet(set: ImageSet, height: number, width: number, value = 0): ImageSet {
  if (!Number.isInteger(height) || !Number.isInteger(width) || height < set.height || width < set.width) {
    throw new DataError(
      "invalid_argument",
      `pad target ${height}×${width} must be integers no smaller than ${set.height}×${set.width}`,
    );
  }
  const top = Math.floor((height - set.height) / 2);
  const left = Math.floor((width - set.width) / 2);
  const pad = { top, left, bottom: height - set.height - top, right: width - set.width - left };
  const inSize = imageSize(set);
  const outSize = set.channels * height * width;
  const images = new Float32Array(imageCount(set) * outSize);
  for (let i = 0; i < imageCount(set); i++) {
    images.set(padChw(set.images.subarray(i * inSize, (i + 1) * inSize), set, pad, value), i * outSize);
  }
  return withImages(set, images, { channels: set.channels, height, width });
}
