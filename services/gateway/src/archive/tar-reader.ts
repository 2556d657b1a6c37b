/**
 * A strict reader of tar archives (POSIX ustar and pax, and GNU tar's format) uploaded as datasets,
 * written from the format's facts:
 *
 * - an archive is 512-byte blocks: each entry is a header block, then its data padded to a whole block;
 *   the archive ends with two zero blocks, and whatever follows (a writer's record padding) must be zeros
 *   too. A length that is not whole blocks, an entry whose data runs past the end, a missing end marker:
 *   a truncated archive, refused;
 * - every header's checksum is verified (the sum of its bytes with the checksum field read as spaces;
 *   the unsigned sum POSIX asks for, or the signed one some old writers made), and it must carry the
 *   `ustar` magic at byte 257 (`ustar\0` `00` for POSIX, `ustar ` ` \0` for GNU): a pre-POSIX tar, or
 *   a header a flipped bit made unreadable, is refused rather than guessed at;
 * - sizes are octal, or base-256 (GNU's form for sizes past 8 GiB); a pax `size` record overrides it;
 * - names come from a pax `path` record, a GNU long name (`L`) entry, or the header's `prefix/name`
 *   (POSIX ustar only: GNU headers keep times there). A leading `./` is dropped (`tar -czf x.tgz .`
 *   writes `./cat/0.png`), then the name goes through the zip reader's checks, so `..`, absolute paths,
 *   backslashes and control characters are refused identically;
 * - regular files and folders are read; symlinks, hard links, devices and FIFOs are `archive_unsafe_path`
 *   naming the entry, and every other entry type (sparse, multi-volume, volume labels) is refused;
 * - entry count, declared sizes per entry and in total are checked as each header is read, before its
 *   data is taken. Tar has no compression of its own: the ratio cap applies to the gzip stream around it
 *   (see read-archive.ts).
 */
import { ApiError } from "../errors.js";
import { checkEntryName, checkFoldedName, unsafeEntry, type ZipEntry, type ZipLimits } from "./zip-reader.js";

const BLOCK = 512;
/** Largest pax or GNU long-name record accepted: real ones hold a name and a few times. */
const MAX_META_BYTES = 1 << 20;

const invalid = (detail: string) => new ApiError("archive_invalid", detail);
const bomb = (detail: string) => new ApiError("archive_bomb", detail);

/** True if `bytes` starts with a header carrying the ustar magic (POSIX or GNU) at byte 257. */
export function isTar(bytes: Uint8Array): boolean {
  return bytes.length >= BLOCK && magicOf(bytes, 0) !== undefined;
}

function magicOf(buf: Uint8Array, at: number): "posix" | "gnu" | undefined {
  const magic = Buffer.from(buf.buffer, buf.byteOffset + at + 257, 8).toString("latin1");
  if (magic === "ustar\u000000") return "posix";
  if (magic === "ustar  \u0000") return "gnu";
  return undefined;
}

const TYPE_NAMES: Record<string, string> = {
  "1": "a hard link",
  "2": "a symlink",
  "3": "a character device",
  "4": "a block device",
  "6": "a FIFO",
};

/** What a pax or GNU metadata entry says about the entry after it. */
interface Pending {
  paxPath?: string;
  paxSize?: number;
  longName?: string;
  /** Kinds of metadata entries seen, so that one kind given twice is refused. */
  kinds: Set<string>;
}

function isZeroBlock(buf: Buffer, at: number): boolean {
  for (let i = at; i < at + BLOCK; i++) if (buf[i] !== 0) return false;
  return true;
}

/** A NUL-terminated (or full-width) text field, as UTF-8. */
function textField(buf: Buffer, start: number, length: number): string {
  const field = buf.subarray(start, start + length);
  const end = field.indexOf(0);
  return decodeUtf8(end < 0 ? field : field.subarray(0, end), "an entry name");
}

function decodeUtf8(bytes: Uint8Array, what: string): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw invalid(`${what} is not valid UTF-8`);
  }
}

/**
 * A numeric header field: octal digits (after optional leading spaces) ended by NUL or space with only
 * NULs and spaces after them, or base-256 (first byte 0x80, then a big-endian unsigned number).
 */
function numericField(buf: Buffer, start: number, length: number, what: string): number {
  if (buf[start] === 0x80) {
    let value = 0;
    for (let i = start + 1; i < start + length; i++) value = value * 256 + buf[i];
    if (!Number.isSafeInteger(value)) throw bomb(`the ${what} of an entry is too large`);
    return value;
  }
  const text = buf.subarray(start, start + length).toString("latin1");
  const match = /^ *([0-7]+)[\0 ][\0 ]*$|^ *([0-7]+)$/.exec(text);
  if (match === null) throw invalid(`a header's ${what} field is not an octal number`);
  return Number.parseInt(match[1] ?? match[2], 8);
}

/** The header checksum: unsigned (POSIX) or signed (historic) sum with the checksum field as spaces. */
function checksumMatches(buf: Buffer, at: number): boolean {
  const stored = numericField(buf, at + 148, 8, "checksum");
  let unsigned = 0;
  let signed = 0;
  for (let i = at; i < at + BLOCK; i++) {
    const byte = i >= at + 148 && i < at + 156 ? 0x20 : buf[i];
    unsigned += byte;
    signed += byte > 127 ? byte - 256 : byte;
  }
  return stored === unsigned || stored === signed;
}

/** Parses the records of a pax header: `<length> <key>=<value>\n`, the length counting the whole record. */
function paxRecords(data: Buffer): Map<string, string> {
  const records = new Map<string, string>();
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    const lengthText = space < 0 ? "" : data.subarray(at, space).toString("latin1");
    if (!/^[1-9][0-9]{0,7}$/.test(lengthText)) throw invalid("a pax header record has no valid length");
    const end = at + Number(lengthText);
    if (end > data.length || end <= space + 1 || data[end - 1] !== 0x0a) {
      throw invalid("a pax header record does not end where its length says");
    }
    const record = decodeUtf8(data.subarray(space + 1, end - 1), "a pax header record");
    const equals = record.indexOf("=");
    if (equals <= 0) throw invalid("a pax header record has no key");
    records.set(record.slice(0, equals), record.slice(equals + 1));
    at = end;
  }
  return records;
}

function applyPax(records: Map<string, string>, pending: Pending, global: boolean): void {
  for (const [key, value] of records) {
    if (key.startsWith("GNU.sparse.")) throw invalid("sparse files are not accepted");
    if (key !== "path" && key !== "size") continue;
    // A global record would rename or resize every later entry: no writer does that to a dataset.
    if (global) throw invalid(`a global pax header sets ${JSON.stringify(key)}`);
    if (value === "") continue; // "delete the keyword": the header's own field applies
    if (key === "path") pending.paxPath = value;
    else if (/^[0-9]{1,16}$/.test(value) && Number.isSafeInteger(Number(value)))
      pending.paxSize = Number(value);
    else throw invalid("a pax size record is not a decimal number");
  }
}

/** `name` with leading `./` dropped (the archive's root folder itself becomes ""). */
function withoutDotPrefix(name: string): string {
  let out = name;
  while (out.startsWith("./")) out = out.slice(2);
  return out === "." ? "" : out;
}

/**
 * Reads every regular file and folder of a tar archive under `limits` (folders come back as `name/` with
 * empty bytes, as the zip reader gives them; file bytes are views into `archive`). Throws
 * {@link ApiError} with `archive_invalid`, `archive_unsafe_path`, `archive_bomb` or `too_many_files`.
 */
export function readTar(archive: Uint8Array, limits: ZipLimits): ZipEntry[] {
  const buf = Buffer.from(archive.buffer, archive.byteOffset, archive.byteLength);
  if (buf.length === 0 || buf.length % BLOCK !== 0) {
    throw invalid(`not a whole tar archive: ${buf.length} bytes is not a multiple of ${BLOCK}`);
  }
  const out: ZipEntry[] = [];
  const names = new Set<string>();
  const folded = new Map<string, string>();
  let declaredTotal = 0;
  let pending: Pending = { kinds: new Set() };
  let at = 0;
  for (;;) {
    if (at + BLOCK > buf.length) throw invalid("the tar archive is truncated (no end-of-archive blocks)");
    if (isZeroBlock(buf, at)) {
      if (at + 2 * BLOCK > buf.length || !isZeroBlock(buf, at + BLOCK)) {
        throw invalid("the tar archive is truncated or corrupt (a lone zero block)");
      }
      if (pending.kinds.size > 0) throw invalid("a pax or long-name header is not followed by an entry");
      for (let i = at + 2 * BLOCK; i < buf.length; i++) {
        if (buf[i] !== 0) throw invalid("data follows the end of the tar archive");
      }
      return out;
    }
    const format = magicOf(buf, at);
    if (format === undefined) {
      throw invalid(
        at === 0
          ? "not a tar archive (no ustar magic at byte 257)"
          : `the tar header at byte ${at} has no ustar magic (truncated or corrupt)`,
      );
    }
    if (!checksumMatches(buf, at)) throw invalid(`the tar header at byte ${at} fails its checksum`);
    const type = String.fromCharCode(buf[at + 156]);
    const isMeta = type === "x" || type === "g" || type === "L" || type === "K";
    const headerSize = numericField(buf, at + 124, 12, "size");
    // A pax size is for the entry the metadata describes, not for another metadata entry before it.
    const size = isMeta ? headerSize : (pending.paxSize ?? headerSize);
    const dataStart = at + BLOCK;
    const next = dataStart + Math.ceil(size / BLOCK) * BLOCK;
    if (isMeta && size > MAX_META_BYTES) throw invalid(`a '${type}' header of ${size} bytes is too large`);
    // Checked before the bounds: a size past the limits is a bomb whether or not its bytes are there.
    if (!isMeta && size > limits.maxEntryBytes) {
      throw bomb(`a tar entry declares ${size} bytes, more than ${limits.maxEntryBytes}`);
    }
    if (next > buf.length) throw invalid("the tar archive is truncated (an entry runs past its end)");
    const data = buf.subarray(dataStart, dataStart + size);

    if (isMeta) {
      if (type === "g") {
        if (pending.kinds.size > 0) throw invalid("a global pax header sits between a header and its entry");
        applyPax(paxRecords(data), pending, true);
      } else {
        if (pending.kinds.has(type)) throw invalid(`two '${type}' headers precede one entry`);
        pending.kinds.add(type);
        if (type === "x") applyPax(paxRecords(data), pending, false);
        else if (type === "L") pending.longName = decodeUtf8(stripNuls(data), "a GNU long name");
        // `K` (a long link target) only matters for links, which are refused below.
      }
      at = next;
      continue;
    }

    let name: string;
    if (pending.paxPath !== undefined) {
      if (pending.longName !== undefined && pending.longName !== pending.paxPath) {
        throw invalid("a pax path and a GNU long name disagree on an entry's name");
      }
      name = pending.paxPath;
    } else if (pending.longName !== undefined) {
      name = pending.longName;
    } else {
      const base = textField(buf, at, 100);
      const prefix = format === "posix" ? textField(buf, at + 345, 155) : "";
      name = prefix === "" ? base : `${prefix}/${base}`;
    }
    pending = { kinds: new Set() };
    const spelled = name;
    name = withoutDotPrefix(name);

    const linkKind = TYPE_NAMES[type];
    if (linkKind !== undefined) {
      throw unsafeEntry(name, `is ${linkKind}; only regular files and folders are accepted`);
    }
    const isFolder = type === "5" || (type === "\0" && name.endsWith("/"));
    if (!isFolder && type !== "0" && type !== "\0" && type !== "7") {
      throw invalid(
        `entry ${JSON.stringify(name.slice(0, 120))} has tar type ${JSON.stringify(type)}, not a file or folder`,
      );
    }
    if (isFolder) {
      if (size !== 0) throw invalid(`folder ${JSON.stringify(name.slice(0, 120))} declares data`);
      if (name === "") {
        if (spelled === "") checkEntryName(spelled); // refused; `./` is the archive's root folder, skipped
        at = next;
        continue;
      }
      if (!name.endsWith("/")) name += "/";
    } else if (name.endsWith("/")) {
      throw invalid(`file ${JSON.stringify(name.slice(0, 120))} has a folder's name`);
    }
    checkEntryName(name);
    if (out.length >= limits.maxEntries) {
      throw new ApiError("too_many_files", `the archive holds more than ${limits.maxEntries} entries`);
    }
    if (names.has(name)) throw invalid(`entry ${JSON.stringify(name)} appears twice`);
    names.add(name);
    checkFoldedName(name, folded);
    declaredTotal += size;
    if (declaredTotal > limits.maxTotalBytes) {
      throw bomb(`the archive declares more than ${limits.maxTotalBytes} uncompressed bytes`);
    }
    out.push({ name, bytes: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) });
    at = next;
  }
}

/** A GNU long name's data: the name and its terminating NUL (some writers pad with more). */
function stripNuls(data: Buffer): Buffer {
  let end = data.length;
  while (end > 0 && data[end - 1] === 0) end--;
  return data.subarray(0, end);
}
