import type { ImageShape } from "./geometry.js";

/**
 * MixUp (Zhang et al. 2018) and CutMix (Yun et al. 2019) on a batch, in place. As in torchvision v2, each
 * image is paired with the previous one in the batch (a roll by one), with one λ for the whole batch.
 */

/** x_i ← λ·x_i + (1−λ)·x_{i−1}, and the same for the targets. Returns λ. */
export function mixupBatch(
  images: Float32Array,
  targets: Float32Array,
  count: number,
  imageSize: number,
  classCount: number,
  lambda: number,
): number {
  const rolledImages = images.slice(0, count * imageSize);
  const rolledTargets = targets.slice(0, count * classCount);
  for (let i = 0; i < count; i++) {
    const j = (i + count - 1) % count;
    for (let p = 0; p < imageSize; p++) {
      images[i * imageSize + p] =
        lambda * images[i * imageSize + p] + (1 - lambda) * rolledImages[j * imageSize + p];
    }
    for (let k = 0; k < classCount; k++) {
      targets[i * classCount + k] =
        lambda * targets[i * classCount + k] + (1 - lambda) * rolledTargets[j * classCount + k];
    }
  }
  return lambda;
}

/** A CutMix box: rows [y0, y1), columns [x0, x1). */
export interface Box {
  readonly y0: number;
  readonly y1: number;
  readonly x0: number;
  readonly x1: number;
}

/**
 * The box for CutMix with mixing weight λ, centred at (cy, cx) (uniform draws in [0, H) × [0, W)): sides
 * H·√(1−λ) by W·√(1−λ), clipped to the image (torchvision's rule).
 */
export function cutmixBox(
  shape: Pick<ImageShape, "height" | "width">,
  lambda: number,
  cy: number,
  cx: number,
): Box {
  const r = 0.5 * Math.sqrt(1 - lambda);
  const halfH = Math.floor(r * shape.height);
  const halfW = Math.floor(r * shape.width);
  const cyInt = Math.floor(cy);
  const cxInt = Math.floor(cx);
  return {
    y0: Math.max(cyInt - halfH, 0),
    y1: Math.min(cyInt + halfH, shape.height),
    x0: Math.max(cxInt - halfW, 0),
    x1: Math.min(cxInt + halfW, shape.width),
  };
}

/**
 * Pastes `box` of x_{i−1} into x_i and mixes the targets by the area actually kept, λ' = 1 − area/(H·W)
 * (after clipping). Returns λ'.
 */
export function cutmixBatch(
  images: Float32Array,
  targets: Float32Array,
  count: number,
  shape: ImageShape,
  classCount: number,
  box: Box,
): number {
  const { channels, height, width } = shape;
  const size = channels * height * width;
  const rolled = images.slice(0, count * size);
  const rolledTargets = targets.slice(0, count * classCount);
  for (let i = 0; i < count; i++) {
    const j = (i + count - 1) % count;
    for (let c = 0; c < channels; c++) {
      for (let y = box.y0; y < box.y1; y++) {
        const row = (c * height + y) * width;
        images.set(
          rolled.subarray(j * size + row + box.x0, j * size + row + box.x1),
          i * size + row + box.x0,
        );
      }
    }
  }
  const lambda = 1 - ((box.y1 - box.y0) * (box.x1 - box.x0)) / (height * width);
  for (let i = 0; i < count; i++) {
    const j = (i + count - 1) % count;
    for (let k = 0; k < classCount; k++) {
      targets[i * classCount + k] =
        lambda * targets[i * classCount + k] + (1 - lambda) * rolledTargets[j * classCount + k];
    }
  }
  return lambda;
}
