import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ChwImage } from "../mixing/index.js";
import { buildTinyParts, type TinyOptions, type TinyParts, writeTinyFolder } from "./tiny-folder.js";

/** A temporary tiny model folder; `remove()` deletes it. */
export interface TempModel {
  readonly dir: string;
  readonly parts: TinyParts;
  remove(): Promise<void>;
}

/**
 * Writes a tiny model of `options` to a new temporary folder; `edit` may change the graphs first (hand-merged
 * weights).
 */
export async function tempTinyModel(
  options: TinyOptions,
  edit?: (parts: TinyParts) => void,
): Promise<TempModel> {
  const dir = await mkdtemp(join(tmpdir(), `diffda-tiny-${options.layout}-`));
  const parts = buildTinyParts(options);
  edit?.(parts);
  await writeTinyFolder(dir, parts, options);
  return { dir, parts, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** A smooth test image (CHW in [0, 1]) that differs with `seed`. */
export function testImage(size: number, seed: number, channels = 3): ChwImage {
  const data = new Float32Array(channels * size * size);
  for (let c = 0; c < channels; c++)
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++) {
        data[(c * size + y) * size + x] =
          0.5 + 0.4 * Math.sin((x + 1.3 * seed) / 3 + c) * Math.cos((y - seed) / 4);
      }
  return { data, channels, height: size, width: size };
}

/** Largest absolute difference of two arrays. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new RangeError(`lengths differ: ${a.length} vs ${b.length}`);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}
