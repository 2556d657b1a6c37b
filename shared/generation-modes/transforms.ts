import { resizeChw } from "../data/index.js";
import type { ChwImage } from "../diffusion/index.js";

/** A mirror image (left ↔ right). */
export function flipHorizontal(image: ChwImage): ChwImage {
  const { channels, height, width } = image;
  const data = new Float32Array(image.data.length);
  for (let c = 0; c < channels; c++)
    for (let y = 0; y < height; y++) {
      const row = (c * height + y) * width;
      for (let x = 0; x < width; x++) data[row + x] = image.data[row + width - 1 - x];
    }
  return { ...image, data };
}

/**
 * The image rotated by `degrees` (counter-clockwise) about its centre, bilinear, with black where the
 * rotated image leaves the frame (torchvision's RandomRotation with fill 0, which GIF applies first).
 */
export function rotate(image: ChwImage, degrees: number): ChwImage {
  if (degrees === 0) return image;
  const { channels, height, width } = image;
  const data = new Float32Array(image.data.length);
  const theta = (degrees * Math.PI) / 180;
  const cos = Math.cos(theta);
  const sin = Math.sin(theta);
  const cx = (width - 1) / 2;
  const cy = (height - 1) / 2;
  const at = (c: number, y: number, x: number) =>
    x < 0 || y < 0 || x >= width || y >= height ? 0 : image.data[(c * height + y) * width + x];
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      // Inverse map: the source pixel that lands on (x, y).
      const dx = x - cx;
      const dy = y - cy;
      const sx = cos * dx - sin * dy + cx;
      const sy = sin * dx + cos * dy + cy;
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      const fx = sx - x0;
      const fy = sy - y0;
      for (let c = 0; c < channels; c++) {
        const top = at(c, y0, x0) * (1 - fx) + at(c, y0, x0 + 1) * fx;
        const bottom = at(c, y0 + 1, x0) * (1 - fx) + at(c, y0 + 1, x0 + 1) * fx;
        data[(c * height + y) * width + x] = top * (1 - fy) + bottom * fy;
      }
    }
  return { ...image, data };
}

/** The `side`×`side` square at (`top`, `left`) of the image, resized (bilinear) back to the image's size. */
export function cropSquare(image: ChwImage, top: number, left: number, side: number): ChwImage {
  const { channels, height, width } = image;
  const square = new Float32Array(channels * side * side);
  for (let c = 0; c < channels; c++)
    for (let y = 0; y < side; y++) {
      const from = (c * height + top + y) * width + left;
      square.set(image.data.subarray(from, from + side), (c * side + y) * side);
    }
  return { ...image, data: resizeChw(square, { channels, height: side, width: side }, height, width) };
}
