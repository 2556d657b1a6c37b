/**
 * A defensive reader of zip archives uploaded as datasets. It trusts nothing in the archive:
 *
 * - the central directory is read first; the entry count, every name, every file type and every
 *   *declared* size and compression ratio are checked before a single byte is inflated;
 * - entries must not overlap (the "overlapping files" bomb reuses one compressed stream many times);
 * - inflation is capped at the declared size of each entry (`maxOutputLength`), so an entry that lies
 *   about its size stops at the cap, and the running total of actual inflated bytes is capped too;
 * - CRC-32 is verified; encrypted entries, ZIP64, multi-disk archives and methods other than stored and
 *   deflate are refused.
 *
 * Written over node:zlib rather than taken from a package: it is ~250 lines, and none of the small
 * readers exposes the Unix mode bits needed to refuse symlinks before extraction.
 */
import { promisify } from "node:util";
import { crc32, inflateRaw } from "node:zlib";
import { ApiError } from "../errors.js";

const inflateRawAsync = promisify(inflateRaw);

/** One file of an archive. Folder entries (`cat/`) come back with empty bytes. */
export interface ZipEntry {
  name: string;
  bytes: Uint8Array;
}

/** Limits applied while reading. */
export interface ZipLimits {
  /** Most entries (files and folders). */
  maxEntries: number;
  /** Largest declared or actual size of one entry, bytes. */
  maxEntryBytes: number;
  /** Most bytes over all entries, declared and actual. */
  maxTotalBytes: number;
  /** Largest uncompressed/compressed size ratio of an entry. */
  maxRatio: number;
}

const EOCD = 0x06054b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
const ZIP64_LOCATOR = 0x07064b50;
const UNIX = 3;
const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
/** Ratios are only judged above this size: tiny entries (a 0-byte file, a short text) compress oddly. */
const RATIO_FLOOR_BYTES = 64 * 1024;

interface CentralEntry {
  name: string;
  method: number;
  crc: number;
  compressedSize: number;
  size: number;
  localOffset: number;
}

const invalid = (detail: string) => new ApiError("archive_invalid", detail);
const unsafe = (name: string, why: string) =>
  new ApiError("archive_unsafe_path", `entry ${JSON.stringify(name.slice(0, 120))} ${why}`, {
    errors: [{ field: "/body", message: `entry ${JSON.stringify(name.slice(0, 120))} ${why}` }],
  });
const bomb = (detail: string) => new ApiError("archive_bomb", detail);

/** Refuses names that could reach outside the extraction root on any system. */
export function checkEntryName(name: string): void {
  if (name.length === 0) throw unsafe(name, "has an empty name");
  if (name.includes("\\")) throw unsafe(name, "contains a backslash");
  if (name.startsWith("/")) throw unsafe(name, "is an absolute path");
  if (/^[A-Za-z]:/.test(name)) throw unsafe(name, "starts with a drive letter");
  for (const char of name) {
    const code = char.codePointAt(0)!;
    if (code < 0x20 || (code >= 0x7f && code <= 0x9f)) throw unsafe(name, "contains a control character");
  }
  const segments = (name.endsWith("/") ? name.slice(0, -1) : name).split("/");
  if (segments.some((s) => s === "" || s === "." || s === "..")) {
    throw unsafe(name, "has an empty, '.' or '..' path segment");
  }
}

function findEndOfCentralDirectory(buf: Buffer): number {
  // The record is 22 bytes plus a comment of at most 65,535 bytes, at the very end.
  const stop = Math.max(0, buf.length - 22 - 0xffff);
  for (let at = buf.length - 22; at >= stop; at--) {
    if (buf.readUInt32LE(at) === EOCD && at + 22 + buf.readUInt16LE(at + 20) === buf.length) return at;
  }
  throw invalid("not a zip archive (no end of central directory record)");
}

function decodeName(raw: Buffer): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(raw);
  } catch {
    throw invalid("an entry name is not valid UTF-8");
  }
}

function readCentralDirectory(buf: Buffer, limits: ZipLimits): CentralEntry[] {
  const eocd = findEndOfCentralDirectory(buf);
  if (eocd >= 20 && buf.readUInt32LE(eocd - 20) === ZIP64_LOCATOR)
    throw invalid("ZIP64 archives are not accepted");
  const disk = buf.readUInt16LE(eocd + 4);
  const cdDisk = buf.readUInt16LE(eocd + 6);
  const onDisk = buf.readUInt16LE(eocd + 8);
  const count = buf.readUInt16LE(eocd + 10);
  const cdSize = buf.readUInt32LE(eocd + 12);
  const cdOffset = buf.readUInt32LE(eocd + 16);
  if (disk !== 0 || cdDisk !== 0 || onDisk !== count) throw invalid("multi-disk archives are not accepted");
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    throw invalid("ZIP64 archives are not accepted");
  }
  if (count > limits.maxEntries) {
    throw new ApiError(
      "too_many_files",
      `the archive holds ${count} entries, more than ${limits.maxEntries}`,
    );
  }
  if (cdOffset + cdSize > eocd) throw invalid("the central directory lies outside the archive");

  const entries: CentralEntry[] = [];
  const names = new Set<string>();
  let declaredTotal = 0;
  let at = cdOffset;
  for (let i = 0; i < count; i++) {
    if (at + 46 > cdOffset + cdSize || buf.readUInt32LE(at) !== CENTRAL) {
      throw invalid("the central directory is truncated or corrupt");
    }
    const madeBy = buf.readUInt16LE(at + 4);
    const flags = buf.readUInt16LE(at + 8);
    const method = buf.readUInt16LE(at + 10);
    const crc = buf.readUInt32LE(at + 16);
    const compressedSize = buf.readUInt32LE(at + 20);
    const size = buf.readUInt32LE(at + 24);
    const nameLength = buf.readUInt16LE(at + 28);
    const extraLength = buf.readUInt16LE(at + 30);
    const commentLength = buf.readUInt16LE(at + 32);
    const externalAttributes = buf.readUInt32LE(at + 38);
    const localOffset = buf.readUInt32LE(at + 42);
    const end = at + 46 + nameLength + extraLength + commentLength;
    if (end > cdOffset + cdSize) throw invalid("the central directory is truncated or corrupt");
    const name = decodeName(buf.subarray(at + 46, at + 46 + nameLength));
    at = end;

    checkEntryName(name);
    if (madeBy >> 8 === UNIX) {
      const type = (externalAttributes >>> 16) & S_IFMT;
      if (type !== 0 && type !== S_IFREG && type !== S_IFDIR) {
        throw unsafe(name, "is a symlink or another special file");
      }
    }
    if (flags & 0x1) throw invalid(`entry ${JSON.stringify(name)} is encrypted`);
    if (method !== 0 && method !== 8) {
      throw invalid(
        `entry ${JSON.stringify(name)} uses compression method ${method}; only stored and deflate`,
      );
    }
    if (size === 0xffffffff || compressedSize === 0xffffffff || localOffset === 0xffffffff) {
      throw invalid("ZIP64 archives are not accepted");
    }
    if (names.has(name)) throw invalid(`entry ${JSON.stringify(name)} appears twice`);
    names.add(name);
    if (size > limits.maxEntryBytes) {
      throw bomb(`entry ${JSON.stringify(name)} declares ${size} bytes, more than ${limits.maxEntryBytes}`);
    }
    declaredTotal += size;
    if (declaredTotal > limits.maxTotalBytes) {
      throw bomb(`the archive declares more than ${limits.maxTotalBytes} uncompressed bytes`);
    }
    if (method === 0 && size !== compressedSize) {
      throw invalid(`stored entry ${JSON.stringify(name)} has different sizes`);
    }
    if (size > RATIO_FLOOR_BYTES && size > compressedSize * limits.maxRatio) {
      throw bomb(
        `entry ${JSON.stringify(name)} compresses ${compressedSize} → ${size} bytes, a ratio above ${limits.maxRatio}`,
      );
    }
    entries.push({ name, method, crc, compressedSize, size, localOffset });
  }
  // Entries' data must lie in order, apart, and before the central directory.
  const byOffset = [...entries].sort((a, b) => a.localOffset - b.localOffset);
  let previousEnd = 0;
  for (const entry of byOffset) {
    if (entry.localOffset < previousEnd) throw bomb("archive entries overlap");
    const start = dataStart(buf, entry, cdOffset);
    previousEnd = start + entry.compressedSize;
    if (previousEnd > cdOffset) throw invalid(`entry ${JSON.stringify(entry.name)} runs past its end`);
  }
  return entries;
}

function dataStart(buf: Buffer, entry: CentralEntry, limit: number): number {
  const at = entry.localOffset;
  if (at + 30 > limit || buf.readUInt32LE(at) !== LOCAL) {
    throw invalid(`entry ${JSON.stringify(entry.name)} has no local header`);
  }
  return at + 30 + buf.readUInt16LE(at + 26) + buf.readUInt16LE(at + 28);
}

/**
 * Reads every entry of a zip archive under `limits`, checking names, types, declared sizes, ratios and
 * overlaps before inflating anything, then inflating each entry with a hard cap. Throws
 * {@link ApiError} with `archive_invalid`, `archive_unsafe_path`, `archive_bomb` or `too_many_files`.
 */
export async function readZip(archive: Uint8Array, limits: ZipLimits): Promise<ZipEntry[]> {
  const buf = Buffer.from(archive.buffer, archive.byteOffset, archive.byteLength);
  if (buf.length < 22) throw invalid("not a zip archive (too short)");
  const central = readCentralDirectory(buf, limits);
  const out: ZipEntry[] = [];
  let inflatedTotal = 0;
  for (const entry of central) {
    const start = dataStart(buf, entry, buf.length);
    const data = buf.subarray(start, start + entry.compressedSize);
    let bytes: Buffer;
    if (entry.method === 0) {
      bytes = data;
    } else {
      try {
        // maxOutputLength is a hard cap on the bytes actually produced, whatever the header says.
        bytes = await inflateRawAsync(data, { maxOutputLength: Math.max(1, entry.size) });
      } catch (error) {
        if (error instanceof RangeError || (error as { code?: string }).code === "ERR_BUFFER_TOO_LARGE") {
          throw bomb(`entry ${JSON.stringify(entry.name)} inflates past its declared ${entry.size} bytes`);
        }
        throw invalid(`entry ${JSON.stringify(entry.name)} is not valid deflate data`);
      }
    }
    inflatedTotal += bytes.length;
    if (inflatedTotal > limits.maxTotalBytes)
      throw bomb(`the archive inflates past ${limits.maxTotalBytes} bytes`);
    if (bytes.length !== entry.size) {
      throw invalid(
        `entry ${JSON.stringify(entry.name)} is ${bytes.length} bytes, not the declared ${entry.size}`,
      );
    }
    if (crc32(bytes) >>> 0 !== entry.crc)
      throw invalid(`entry ${JSON.stringify(entry.name)} fails its CRC-32`);
    out.push({ name: entry.name, bytes: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) });
  }
  return out;
}
