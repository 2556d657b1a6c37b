/**
 * Writes a zip archive as a stream of chunks, one stored (uncompressed) entry at a time: PNGs and
 * safetensors do not compress further, and storing keeps the writer simple and the CPU free. Entries are
 * produced lazily, so an archive of thousands of images never sits in memory at once.
 *
 * Any size: where a count, size or offset does not fit the classic 16/32-bit fields (more than 65,535
 * entries, or past 4 GiB), the writer switches to ZIP64 for exactly those fields (APPNOTE 4.5.3: the
 * field holds its all-ones value and the real one moves to the ZIP64 extra field; the end records gain a
 * ZIP64 end of central directory record and its locator). Small archives stay classic zips, readable by
 * every tool.
 */
import { crc32 } from "node:zlib";

/** One file to write. */
export interface ZipSource {
  /** Entry name, `/`-separated, made by the gateway (never taken from a request). */
  name: string;
  /** Reads the content when the entry is written. */
  read(): Promise<Uint8Array>;
}

/** Options of {@link writeZip}. */
export interface ZipWriteOptions {
  /**
   * Write the ZIP64 records even where the classic fields would do (every entry's offset in its ZIP64
   * extra field, and the ZIP64 end records): lets tests check the ZIP64 path on small archives.
   */
  forceZip64?: boolean;
}

const UTF8_FLAG = 0x0800;
// 1980-01-01 00:00 in DOS format: a fixed time makes archives of the same content byte-identical.
const DOS_TIME = 0;
const DOS_DATE = (0 << 9) | (1 << 5) | 1;
const U16_MAX = 0xffff;
const U32_MAX = 0xffffffff;
const ZIP64_EXTRA_ID = 0x0001;
/** "Version needed to extract": 2.0 for stored entries, 4.5 once ZIP64 fields appear. */
const VERSION_CLASSIC = 20;
const VERSION_ZIP64 = 45;

/** The ZIP64 extra field with the given 64-bit values, in the order APPNOTE lists them. */
function zip64Extra(values: readonly number[]): Buffer {
  const extra = Buffer.alloc(4 + 8 * values.length);
  extra.writeUInt16LE(ZIP64_EXTRA_ID, 0);
  extra.writeUInt16LE(8 * values.length, 2);
  for (const [i, value] of values.entries()) extra.writeBigUInt64LE(BigInt(value), 4 + 8 * i);
  return extra;
}

/** A 32-bit field's value: the number, or all ones when it lives in the ZIP64 extra field. */
const field32 = (value: number, inExtra: boolean) => (inExtra ? U32_MAX : value);

/** The local header of one entry (sizes in a ZIP64 extra field when they do not fit 32 bits). */
function localHeader(name: Buffer, size: number, crc: number): Buffer {
  const big = size >= U32_MAX;
  const extra = big ? zip64Extra([size, size]) : Buffer.alloc(0);
  const header = Buffer.alloc(30);
  header.writeUInt32LE(0x04034b50, 0);
  header.writeUInt16LE(big ? VERSION_ZIP64 : VERSION_CLASSIC, 4);
  header.writeUInt16LE(UTF8_FLAG, 6);
  header.writeUInt16LE(0, 8); // stored
  header.writeUInt16LE(DOS_TIME, 10);
  header.writeUInt16LE(DOS_DATE, 12);
  header.writeUInt32LE(crc, 14);
  header.writeUInt32LE(field32(size, big), 18);
  header.writeUInt32LE(field32(size, big), 22);
  header.writeUInt16LE(name.length, 26);
  header.writeUInt16LE(extra.length, 28);
  return Buffer.concat([header, name, extra]);
}

/** The central directory header of one entry. */
function centralHeader(name: Buffer, size: number, crc: number, offset: number, force: boolean): Buffer {
  const bigSize = size >= U32_MAX;
  const bigOffset = force || offset >= U32_MAX;
  const values = [...(bigSize ? [size, size] : []), ...(bigOffset ? [offset] : [])];
  const extra = values.length > 0 ? zip64Extra(values) : Buffer.alloc(0);
  const version = values.length > 0 ? VERSION_ZIP64 : VERSION_CLASSIC;
  const header = Buffer.alloc(46);
  header.writeUInt32LE(0x02014b50, 0);
  header.writeUInt16LE((3 << 8) | version, 4); // made by Unix
  header.writeUInt16LE(version, 6);
  header.writeUInt16LE(UTF8_FLAG, 8);
  header.writeUInt16LE(0, 10);
  header.writeUInt16LE(DOS_TIME, 12);
  header.writeUInt16LE(DOS_DATE, 14);
  header.writeUInt32LE(crc, 16);
  header.writeUInt32LE(field32(size, bigSize), 20);
  header.writeUInt32LE(field32(size, bigSize), 24);
  header.writeUInt16LE(name.length, 28);
  header.writeUInt16LE(extra.length, 30);
  header.writeUInt32LE((0o100644 << 16) >>> 0, 38); // regular file, rw-r--r--
  header.writeUInt32LE(field32(offset, bigOffset), 42);
  return Buffer.concat([header, name, extra]);
}

/** The end records: ZIP64 record and locator where needed, then the classic end of central directory. */
function endRecords(count: number, directoryBytes: number, directoryOffset: number, force: boolean): Buffer {
  const zip64 = force || count >= U16_MAX || directoryBytes >= U32_MAX || directoryOffset >= U32_MAX;
  const parts: Buffer[] = [];
  if (zip64) {
    const record = Buffer.alloc(56);
    record.writeUInt32LE(0x06064b50, 0);
    record.writeBigUInt64LE(44n, 4); // size of the rest of the record
    record.writeUInt16LE((3 << 8) | VERSION_ZIP64, 12);
    record.writeUInt16LE(VERSION_ZIP64, 14);
    record.writeBigUInt64LE(BigInt(count), 24);
    record.writeBigUInt64LE(BigInt(count), 32);
    record.writeBigUInt64LE(BigInt(directoryBytes), 40);
    record.writeBigUInt64LE(BigInt(directoryOffset), 48);
    const locator = Buffer.alloc(20);
    locator.writeUInt32LE(0x07064b50, 0);
    locator.writeBigUInt64LE(BigInt(directoryOffset + directoryBytes), 8);
    locator.writeUInt32LE(1, 16); // total disks
    parts.push(record, locator);
  }
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(zip64 ? U16_MAX : count, 8);
  end.writeUInt16LE(zip64 ? U16_MAX : count, 10);
  end.writeUInt32LE(zip64 ? U32_MAX : directoryBytes, 12);
  end.writeUInt32LE(zip64 ? U32_MAX : directoryOffset, 16);
  parts.push(end);
  return Buffer.concat(parts);
}

/** The archive's bytes, chunk by chunk. */
export async function* writeZip(
  sources: AsyncIterable<ZipSource> | Iterable<ZipSource>,
  options: ZipWriteOptions = {},
): AsyncGenerator<Buffer> {
  const force = options.forceZip64 === true;
  // The central directory is kept as compact chunks: 200,000 entries cost about 20 MB.
  const central: Buffer[] = [];
  let directoryBytes = 0;
  let offset = 0;
  let count = 0;
  for await (const source of sources) {
    const name = Buffer.from(source.name, "utf8");
    const content = await source.read();
    const crc = crc32(content) >>> 0;
    const local = localHeader(name, content.length, crc);
    const header = centralHeader(name, content.length, crc, offset, force);
    central.push(header);
    directoryBytes += header.length;
    offset += local.length + content.length;
    count++;
    yield local;
    yield Buffer.from(content.buffer, content.byteOffset, content.byteLength);
  }
  for (let i = 0; i < central.length; i += 1024) yield Buffer.concat(central.slice(i, i + 1024));
  yield endRecords(count, directoryBytes, offset, force);
}

/** The whole archive in one buffer (tests, small archives). */
export async function zipToBuffer(
  sources: AsyncIterable<ZipSource> | Iterable<ZipSource>,
  options: ZipWriteOptions = {},
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of writeZip(sources, options)) chunks.push(chunk);
  return Buffer.concat(chunks);
}
