import { randomBytes } from "node:crypto";
import { mkdir, open, readFile, rename, rm } from "node:fs/promises";
import { dirname } from "node:path";
import { type ByteDataset, SPLIT_TEST, SPLIT_TRAIN, splitIndices } from "./byte-dataset.js";

/**
 * Binary cache of a {@link ByteDataset}, so the 150 MB of package JSON is parsed once:
 *
 *   "DIFFDADS" | u32 LE header length | header JSON (utf-8) | pixels u8[N·C·H·W] | labels u8[N] |
 *   split u8[N] | origin u32 LE[N]
 *
 * The header carries `key` (package version + recipe version); a file whose key, shape or length is off is
 * treated as a miss and rebuilt, never trusted.
 */
const MAGIC = Buffer.from("DIFFDADS", "latin1");

interface CacheHeader {
  key: string;
  name: string;
  count: number;
  channels: number;
  height: number;
  width: number;
  classNames: string[];
}

/** Serialises a dataset into the cache format. */
export function encodeDatasetCache(dataset: ByteDataset, key: string): Buffer {
  const count = dataset.labels.length;
  if (dataset.classNames.length > 256)
    throw new RangeError("the cache stores labels as bytes: at most 256 classes");
  const header: CacheHeader = {
    key,
    name: dataset.name,
    count,
    channels: dataset.channels,
    height: dataset.height,
    width: dataset.width,
    classNames: [...dataset.classNames],
  };
  const headerBytes = Buffer.from(JSON.stringify(header), "utf8");
  const lengthBytes = Buffer.alloc(4);
  lengthBytes.writeUInt32LE(headerBytes.length);
  const origin = Buffer.alloc(count * 4);
  for (let i = 0; i < count; i++) origin.writeUInt32LE(dataset.origin[i], i * 4);
  return Buffer.concat([
    MAGIC,
    lengthBytes,
    headerBytes,
    dataset.pixels,
    Uint8Array.from(dataset.labels),
    dataset.split,
    origin,
  ]);
}

/** Parses the cache format; `undefined` when the bytes are not a complete cache for `key`. */
export function decodeDatasetCache(bytes: Buffer, key: string): ByteDataset | undefined {
  if (bytes.length < MAGIC.length + 4 || !bytes.subarray(0, MAGIC.length).equals(MAGIC)) return undefined;
  const headerLength = bytes.readUInt32LE(MAGIC.length);
  const start = MAGIC.length + 4;
  if (start + headerLength > bytes.length) return undefined;
  let header: CacheHeader;
  try {
    header = JSON.parse(bytes.subarray(start, start + headerLength).toString("utf8")) as CacheHeader;
  } catch {
    return undefined;
  }
  if (header.key !== key) return undefined;
  const { count, channels, height, width } = header;
  const pixelBytes = count * channels * height * width;
  let at = start + headerLength;
  if (bytes.length !== at + pixelBytes + count * 6) return undefined;
  const pixels = new Uint8Array(bytes.buffer, bytes.byteOffset + at, pixelBytes);
  at += pixelBytes;
  const labels = Int32Array.from(bytes.subarray(at, at + count));
  at += count;
  const split = new Uint8Array(bytes.buffer, bytes.byteOffset + at, count);
  at += count;
  const origin = new Int32Array(count);
  for (let i = 0; i < count; i++) origin[i] = bytes.readUInt32LE(at + i * 4);
  for (const label of labels) if (label >= header.classNames.length) return undefined;
  for (const flag of split) if (flag !== SPLIT_TRAIN && flag !== SPLIT_TEST) return undefined;
  return {
    name: header.name,
    channels,
    height,
    width,
    classNames: header.classNames,
    pixels,
    labels,
    split,
    origin,
    train: splitIndices(split, SPLIT_TRAIN),
    test: splitIndices(split, SPLIT_TEST),
  };
}

/** Reads a cache file; `undefined` when it is missing or not valid for `key`. */
export async function readDatasetCache(path: string, key: string): Promise<ByteDataset | undefined> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  return decodeDatasetCache(bytes, key);
}

/**
 * Writes a cache file atomically: a uniquely named temp file in the same directory, fsynced, then renamed
 * over the target, so a reader (or a second builder racing this one) only ever sees a whole file.
 */
export async function writeDatasetCache(path: string, dataset: ByteDataset, key: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temp = `${path}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`;
  try {
    const handle = await open(temp, "wx");
    try {
      await handle.writeFile(encodeDatasetCache(dataset, key));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}
