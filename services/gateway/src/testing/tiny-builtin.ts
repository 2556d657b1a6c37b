/** A built-in dataset small enough for orchestrator tests: 2 classes, 2 train + 2 test images each, 4×4 gray. */
import type { ByteDataset } from "../../../../shared/data/index.js";

/** The tiny built-in (a fresh copy each call). */
export function tinyBuiltin(): ByteDataset {
  const n = 8;
  return {
    name: "tiny",
    channels: 1,
    height: 4,
    width: 4,
    classNames: ["shoe", "bag"],
    pixels: Uint8Array.from({ length: n * 16 }, (_, i) => (i * 7) % 256),
    labels: Int32Array.from({ length: n }, (_, i) => i % 2),
    split: Uint8Array.from({ length: n }, (_, i) => (i < 4 ? 0 : 1)),
    origin: Int32Array.from({ length: n }, (_, i) => i),
    train: Int32Array.from([0, 1, 2, 3]),
    test: Int32Array.from([4, 5, 6, 7]),
  };
}
