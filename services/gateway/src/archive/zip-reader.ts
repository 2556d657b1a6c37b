/**
 * A defensive reader of zip archives uploaded as datasets. It trusts nothing in the archive:
 *
 * - the central directory is read first; the entry count, every name, every file type and every
 *   *declared* size and compression ratio are checked before a single byte is inflated;
 * - entries must not overlap (the "overlapping files" bomb reuses one compressed stream many times);
 * - inflation is capped at the declared size of each entry (`maxOutputLength`), so an entry that lies
 *   about its size stops at the cap, and the running total of actual inflated bytes is capped too;
 * - every local header must agree with its central directory entry (name bytes, flags, method, and CRC
 *   and sizes, which with a data descriptor move to the descriptor after the data), and the central
 *   directory must fill exactly the bytes the end record gives it: a bit flipped in one copy of a
 *   header is a refusal, not a silently different file;
 * - names must be unique, also after Unicode normalisation and case folding (`cat/` and `Cat/` would
 *   be two classes here and one folder on most desktops: a corrupted or confusing archive);
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
const DESCRIPTOR = 0x08074b50;
const ZIP64_LOCATOR = 0x07064b50;
const UNIX = 3;
const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
/** General purpose flags: encrypted, data descriptor follows, strong encryption, masked central directory. */
const FLAG_ENCRYPTED = 0x0001;
const FLAG_DESCRIPTOR = 0x0008;
const FLAG_STRONG_ENCRYPTION = 0x0040;
const FLAG_MASKED_DIRECTORY = 0x2000;
/** Ratios are only judged above this size: tiny entries (a 0-byte file, a short text) compress oddly. */
const RATIO_FLOOR_BYTES = 64 * 1024;

interface CentralEntry {
  name: string;
  rawName: Buffer;
  flags: number;
  method: number;
  crc: number;
  compressedSize: number;
  size: number;
  localOffset: number;
  /** Set once the local header has been checked. */
  dataStart?: number;
}

const invalid = (detail: string) => new ApiError("archive_invalid", detail);
/** An `archive_unsafe_path` refusal naming the entry (shared with the tar reader, so both read alike). */
export const unsafeEntry = (name: string, why: string) =>
  new ApiError("archive_unsafe_path", `entry ${JSON.stringify(name.slice(0, 120))} ${why}`, {
    errors: [{ field: "/body", message: `entry ${JSON.stringify(name.slice(0, 120))} ${why}` }],
  });
const bomb = (detail: string) => new ApiError("archive_bomb", detail);

/** Refuses names that could reach outside the extraction root on any system. */
export function checkEntryName(name: string): void {
  if (name.length === 0) throw unsafeEntry(name, "has an empty name");
  if (name.includes("\\")) throw unsafeEntry(name, "contains a backslash");
  if (name.startsWith("/")) throw unsafeEntry(name, "is an absolute path");
  if (/^[A-Za-z]:/.test(name)) throw unsafeEntry(name, "starts with a drive letter");
  for (const char of name) {
    const code = char.codePointAt(0)!;
    if (code < 0x20 || (code >= 0x7f && code <= 0x9f))
      throw unsafeEntry(name, "contains a control character");
  }
  const segments = (name.endsWith("/") ? name.slice(0, -1) : name).split("/");
  if (segments.some((s) => s === "" || s === "." || s === "..")) {
    throw unsafeEntry(name, "has an empty, '.' or '..' path segment");
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
  // Nothing may sit between the directory and the end record (ZIP64 records would, and are refused).
  if (cdOffset + cdSize !== eocd) throw invalid("the central directory does not end at the end record");

  const entries: CentralEntry[] = [];
  const names = new Set<string>();
  const folded = new Map<string, string>();
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
    const rawName = buf.subarray(at + 46, at + 46 + nameLength);
    const name = decodeName(rawName);
    at = end;

    checkEntryName(name);
    if (madeBy >> 8 === UNIX) {
      const type = (externalAttributes >>> 16) & S_IFMT;
      if (type !== 0 && type !== S_IFREG && type !== S_IFDIR) {
        throw unsafeEntry(name, "is a symlink or another special file");
      }
    }
    if (flags & (FLAG_ENCRYPTED | FLAG_STRONG_ENCRYPTION | FLAG_MASKED_DIRECTORY)) {
      throw invalid(`entry ${JSON.stringify(name)} is encrypted`);
    }
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
    checkFoldedName(name, folded);
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
    entries.push({ name, rawName, flags, method, crc, compressedSize, size, localOffset });
  }
  if (at !== cdOffset + cdSize) throw invalid("the central directory has bytes after its last entry");
  // Entries (local header, data, descriptor) must lie in order, apart, and before the central directory.
  const byOffset = [...entries].sort((a, b) => a.localOffset - b.localOffset);
  let previousEnd = 0;
  for (const entry of byOffset) {
    if (entry.localOffset < previousEnd) throw bomb("archive entries overlap");
    const { start, end } = localSpan(buf, entry, cdOffset);
    entry.dataStart = start;
    previousEnd = end;
  }
  return entries;
}

/**
 * Refuses a name that equals an earlier one, or one of its folders, after NFC normalisation and case
 * folding while being spelled differently (`cat/0.png` then `Cat/1.png`).
 */
export function checkFoldedName(name: string, seen: Map<string, string>): void {
  const segments = (name.endsWith("/") ? name.slice(0, -1) : name).split("/");
  for (let i = 1; i <= segments.length; i++) {
    const path = segments.slice(0, i).join("/");
    const key = path.normalize("NFC").toLowerCase();
    const earlier = seen.get(key);
    if (earlier === undefined) seen.set(key, path);
    else if (earlier !== path) {
      throw invalid(
        `entries ${JSON.stringify(earlier)} and ${JSON.stringify(path)} differ only by case or Unicode normalisation`,
      );
    }
  }
}

/**
 * Checks the local header of `entry` against its central directory record and returns where its data
 * starts and where the entry (data and any data descriptor) ends, which must be at or before `limit`.
 */
function localSpan(buf: Buffer, entry: CentralEntry, limit: number): { start: number; end: number } {
  const at = entry.localOffset;
  const what = `entry ${JSON.stringify(entry.name)}`;
  if (at + 30 > limit || buf.readUInt32LE(at) !== LOCAL) throw invalid(`${what} has no local header`);
  const flags = buf.readUInt16LE(at + 6);
  const method = buf.readUInt16LE(at + 8);
  const crc = buf.readUInt32LE(at + 14);
  const compressedSize = buf.readUInt32LE(at + 18);
  const size = buf.readUInt32LE(at + 22);
  const nameLength = buf.readUInt16LE(at + 26);
  const start = at + 30 + nameLength + buf.readUInt16LE(at + 28);
  if (start > limit) throw invalid(`${what} runs past its end`);
  const mismatch = (field: string) =>
    invalid(`${what}: the local header and the central directory disagree on the ${field}`);
  if (!buf.subarray(at + 30, at + 30 + nameLength).equals(entry.rawName)) throw mismatch("name");
  if (flags !== entry.flags) throw mismatch("flags");
  if (method !== entry.method) throw mismatch("compression method");
  let end = start + entry.compressedSize;
  if (end > limit) throw invalid(`${what} runs past its end`);
  if (flags & FLAG_DESCRIPTOR) {
    // CRC and sizes follow the data; the local header holds zeros (or, from some writers, the values).
    if (crc !== 0 && crc !== entry.crc) throw mismatch("CRC-32");
    if (compressedSize !== 0 && compressedSize !== entry.compressedSize) throw mismatch("compressed size");
    if (size !== 0 && size !== entry.size) throw mismatch("size");
    // The descriptor's signature is optional: 12 bytes without it, 16 with it.
    const signed = end + 16 <= limit && buf.readUInt32LE(end) === DESCRIPTOR;
    const fields = signed ? end + 4 : end;
    if (fields + 12 > limit) throw invalid(`${what} has no data descriptor`);
    if (buf.readUInt32LE(fields) !== entry.crc)
      throw invalid(`${what}: the data descriptor's CRC-32 disagrees`);
    if (
      buf.readUInt32LE(fields + 4) !== entry.compressedSize ||
      buf.readUInt32LE(fields + 8) !== entry.size
    ) {
      throw invalid(`${what}: the data descriptor's sizes disagree`);
    }
    end = fields + 12;
  } else {
    if (crc !== entry.crc) throw mismatch("CRC-32");
    if (compressedSize !== entry.compressedSize) throw mismatch("compressed size");
    if (size !== entry.size) throw mismatch("size");
  }
  return { start, end };
}

/**
 * Reads every entry of a zip archive under `limits`, checking names, types, declared sizes, ratios,
 * overlaps and that local headers agree with the central directory before inflating anything, then inflating each entry with a hard cap. Throws
 * {@link ApiError} with `archive_invalid`, `archive_unsafe_path`, `archive_bomb` or `too_many_files`.
 */
export async function readZip(archive: Uint8Array, limits: ZipLimits): Promise<ZipEntry[]> {
  const buf = Buffer.from(archive.buffer, archive.byteOffset, archive.byteLength);
  if (buf.length < 22) throw invalid("not a zip archive (too short)");
  const central = readCentralDirectory(buf, limits);
  const out: ZipEntry[] = [];
  let inflatedTotal = 0;
  for (const entry of central) {
    const start = entry.dataStart!;
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
