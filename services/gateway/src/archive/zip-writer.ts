/**
 * Writes a zip archive as a stream of chunks, one stored (uncompressed) entry at a time: PNGs and
 * safetensors do not compress further, and storing keeps the writer simple and the CPU free. Entries are
 * produced lazily, so an archive of thousands of images never sits in memory at once. No ZIP64: at most
 * 65,535 entries and 4 GiB, which the caller checks before starting (an archive cannot fail half-sent).
 */
import { crc32 } from "node:zlib";

/** One file to write. */
export interface ZipSource {
  /** Entry name, `/`-separated, made by the gateway (never taken from a request). */
  name: string;
  /** Reads the content when the entry is written. */
  read(): Promise<Uint8Array>;
}

/** Most entries a non-ZIP64 archive can hold. */
export const MAX_ZIP_ENTRIES = 0xffff;
/** Most bytes a non-ZIP64 archive can hold. */
export const MAX_ZIP_BYTES = 0xffffffff;

const UTF8_FLAG = 0x0800;
// 1980-01-01 00:00 in DOS format: a fixed time makes archives of the same content byte-identical.
const DOS_TIME = 0;
const DOS_DATE = (0 << 9) | (1 << 5) | 1;

/** The archive's bytes, chunk by chunk. Throws (before the end record) if the 4 GiB limit is passed. */
export async function* writeZip(
  sources: AsyncIterable<ZipSource> | Iterable<ZipSource>,
): AsyncGenerator<Buffer> {
  const central: Buffer[] = [];
  let offset = 0;
  let count = 0;
  for await (const source of sources) {
    if (++count > MAX_ZIP_ENTRIES) throw new RangeError(`more than ${MAX_ZIP_ENTRIES} entries`);
    const name = Buffer.from(source.name, "utf8");
    const content = Buffer.from(await source.read());
    const crc = crc32(content) >>> 0;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed
    local.writeUInt16LE(UTF8_FLAG, 6);
    local.writeUInt16LE(0, 8); // stored
    local.writeUInt16LE(DOS_TIME, 10);
    local.writeUInt16LE(DOS_DATE, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(content.length, 18);
    local.writeUInt32LE(content.length, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(0, 28);
    const header = Buffer.alloc(46);
    header.writeUInt32LE(0x02014b50, 0);
    header.writeUInt16LE((3 << 8) | 20, 4); // made by Unix, spec 2.0
    header.writeUInt16LE(20, 6);
    header.writeUInt16LE(UTF8_FLAG, 8);
    header.writeUInt16LE(0, 10);
    header.writeUInt16LE(DOS_TIME, 12);
    header.writeUInt16LE(DOS_DATE, 14);
    header.writeUInt32LE(crc, 16);
    header.writeUInt32LE(content.length, 20);
    header.writeUInt32LE(content.length, 24);
    header.writeUInt16LE(name.length, 28);
    header.writeUInt32LE(((0o100644 << 16) >>> 0) as number, 38); // regular file, rw-r--r--
    header.writeUInt32LE(offset, 42);
    central.push(header, name);
    offset += local.length + name.length + content.length;
    if (offset > MAX_ZIP_BYTES) throw new RangeError("the archive would pass 4 GiB");
    yield Buffer.concat([local, name]);
    yield content;
  }
  const directory = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(count, 8);
  end.writeUInt16LE(count, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  yield directory;
  yield end;
}

/** The whole archive in one buffer (tests, small archives). */
export async function zipToBuffer(sources: AsyncIterable<ZipSource> | Iterable<ZipSource>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of writeZip(sources)) chunks.push(chunk);
  return Buffer.concat(chunks);
}
