import { createHash } from "node:crypto";

/**
 * Decoded pixel blocks by the exact bytes they were decoded from: a job sends the same real training images
 * to each of its runs and the same test images to each evaluation, and decoding 1,000 PNGs costs more CPU
 * than classifying them. Keyed by a hash of every encoded image and the target shape, so only identical
 * input hits; least recently used blocks go beyond `maxBytes`. A block handed out is shared: read it, never
 * write it.
 */
export class DecodedImageCache {
  readonly #blocks = new Map<string, Float32Array>();
  readonly #maxBytes: number;
  #bytes = 0;
  #hits = 0;

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  /** Cache hits so far. */
  get hits(): number {
    return this.#hits;
  }

  /**
   * The key of a list of encoded images decoded to `shape` (e.g. "3x32"): per image, everything its
   * decoding reads besides the bytes (format, declared size, checksum) as `header`, then the bytes.
   */
  static key(images: readonly { header: string; bytes: Uint8Array }[], shape: string): string {
    const hash = createHash("sha256").update(shape);
    for (const { header, bytes } of images) hash.update(`|${header}|${bytes.length}|`).update(bytes);
    return hash.digest("hex");
  }

  /** The block for `key`, decoding it with `decode` when absent. */
  async get(key: string, decode: () => Promise<Float32Array>): Promise<Float32Array> {
    const found = this.#blocks.get(key);
    if (found !== undefined) {
      this.#blocks.delete(key);
      this.#blocks.set(key, found);
      this.#hits++;
      return found;
    }
    const block = await decode();
    const raced = this.#blocks.get(key);
    if (raced !== undefined) return raced;
    if (block.byteLength > this.#maxBytes) return block;
    this.#blocks.set(key, block);
    this.#bytes += block.byteLength;
    for (const [oldest, evicted] of this.#blocks) {
      if (this.#bytes <= this.#maxBytes) break;
      this.#blocks.delete(oldest);
      this.#bytes -= evicted.byteLength;
    }
    return block;
  }
}
