import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createImageSet, type ImageSet } from "../data/index.js";
import { testImage } from "../diffusion/testing/fixtures.js";

/** A two-class set of smooth 32×32 RGB test images (class 1 inverted), `perClass` images each. */
export function tinyImageSet(perClass = 4): ImageSet {
  const size = 3 * 32 * 32;
  const n = 2 * perClass;
  const images = new Float32Array(n * size);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const label = i < perClass ? 0 : 1;
    const image = testImage(32, i).data;
    images.set(label === 0 ? image : image.map((v) => 1 - v), i * size);
    labels[i] = label;
  }
  return createImageSet({ channels: 3, height: 32, width: 32, images, labels, classNames: ["cat", "dog"] });
}

/** SHA-256 of a file. */
export async function sha256(path: string): Promise<string> {
  return createHash("sha256")
    .update(await readFile(path))
    .digest("hex");
}

/** True when two float arrays hold the same bits. */
export function sameBits(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}
