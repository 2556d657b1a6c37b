import { Rng } from "../random/index.js";
import { SPLIT_TEST, SPLIT_TRAIN } from "./byte-dataset.js";

/** One image as read from a source, before de-duplication. */
export interface RawEntry {
  readonly label: number;
  /** Position in the source (kept as provenance in {@link ByteDataset.origin}). */
  readonly origin: number;
  readonly pixels: Uint8Array;
}

/** Result of {@link dedupe}: the kept entries and how many were dropped and why. */
export interface DedupeResult {
  readonly kept: RawEntry[];
  /** Exact copies of an image already kept in the same class. */
  readonly duplicates: number;
  /** Copies of an image that also appears under another class: all copies go, since the label is unknown. */
  readonly conflicting: number;
}

/**
 * Drops exact byte-for-byte duplicates (keeping the first), and every copy of an image that appears under
 * two different labels. Duplicates would otherwise leak test images into training.
 */
export function dedupe(entries: readonly RawEntry[]): DedupeResult {
  const labelOf = new Map<string, number>();
  const conflict = -1;
  for (const entry of entries) {
    const key = Buffer.from(entry.pixels.buffer, entry.pixels.byteOffset, entry.pixels.length).toString(
      "latin1",
    );
    const seen = labelOf.get(key);
    if (seen === undefined) labelOf.set(key, entry.label);
    else if (seen !== entry.label) labelOf.set(key, conflict);
  }
  const emitted = new Set<string>();
  const kept: RawEntry[] = [];
  let duplicates = 0;
  let conflicting = 0;
  for (const entry of entries) {
    const key = Buffer.from(entry.pixels.buffer, entry.pixels.byteOffset, entry.pixels.length).toString(
      "latin1",
    );
    if (labelOf.get(key) === conflict) conflicting++;
    else if (emitted.has(key)) duplicates++;
    else {
      emitted.add(key);
      kept.push(entry);
    }
  }
  return { kept, duplicates, conflicting };
}

/** How many images of a class of `size` go to the test split. */
export type TestCount = (size: number, classIndex: number) => number;

/**
 * A per-class seeded split: class c's images (in order) are shuffled by `Rng(seed, c)` and the first
 * `testCount(n, c)` become test images. Each class draws from its own stream, so the split of one class never
 * depends on another's size.
 */
export function perClassSplit(
  labels: Int32Array,
  classCount: number,
  seed: number,
  testCount: TestCount,
): Uint8Array {
  const split = new Uint8Array(labels.length).fill(SPLIT_TRAIN);
  for (let c = 0; c < classCount; c++) {
    const members: number[] = [];
    for (let i = 0; i < labels.length; i++) if (labels[i] === c) members.push(i);
    const n = Math.min(testCount(members.length, c), members.length);
    new Rng(seed, c).shuffle(members);
    for (let i = 0; i < n; i++) split[members[i]] = SPLIT_TEST;
  }
  return split;
}
