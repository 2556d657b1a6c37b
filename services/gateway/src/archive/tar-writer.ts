/**
 * Writes a POSIX ustar archive as a stream of chunks, one regular file at a time, for WebDataset shards.
 * Names are made by the gateway and kept within ustar's 100-byte name (plus the 155-byte prefix at a
 * `/`); sizes use the 11-digit octal field, so an entry may hold up to 8 GiB. A fixed mtime, owner and
 * mode make shards of the same content byte-identical.
 */

/** One file to write: read whole, or streamed when its size is known in advance (a shard inside a tar). */
export type TarSource =
  | {
      /** Entry name, `/`-separated, made by the gateway (never taken from a request). */
      name: string;
      /** Reads the content when the entry is written. */
      read(): Promise<Uint8Array>;
    }
  | {
      name: string;
      /** Exact byte count of `chunks()`: the header is written before the content. */
      size: number;
      chunks(): AsyncIterable<Uint8Array>;
    };

const BLOCK = 512;
const MAX_SIZE = 0o77777777777;

/** Writes `value` as a NUL-terminated octal field of `width` bytes. */
function octal(header: Buffer, value: number, offset: number, width: number): void {
  header.write(`${value.toString(8).padStart(width - 1, "0")}\0`, offset, width, "ascii");
}

/** Splits a name into ustar's (prefix, name) at a `/`, or throws when it cannot fit. */
function splitName(name: string): { prefix: string; base: string } {
  if (Buffer.byteLength(name) <= 100) return { prefix: "", base: name };
  for (let i = name.lastIndexOf("/"); i > 0; i = name.lastIndexOf("/", i - 1)) {
    const prefix = name.slice(0, i);
    const base = name.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(base) <= 100) return { prefix, base };
  }
  throw new RangeError(`tar entry name too long for ustar: ${name}`);
}

/** The 512-byte ustar header of a regular file. */
function tarHeader(name: string, size: number): Buffer {
  if (!(Number.isSafeInteger(size) && size >= 0 && size <= MAX_SIZE)) {
    throw new RangeError(`tar entry size ${size} does not fit ustar`);
  }
  const { prefix, base } = splitName(name);
  const header = Buffer.alloc(BLOCK);
  header.write(base, 0, 100, "utf8");
  octal(header, 0o644, 100, 8); // mode
  octal(header, 0, 108, 8); // uid
  octal(header, 0, 116, 8); // gid
  octal(header, size, 124, 12);
  octal(header, 0, 136, 12); // mtime: the epoch, for reproducible shards
  header.fill(0x20, 148, 156); // checksum counts as spaces while it is computed
  header.write("0", 156, 1, "ascii"); // regular file
  header.write("ustar\0", 257, 6, "ascii");
  header.write("00", 263, 2, "ascii");
  header.write(prefix, 345, 155, "utf8");
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, 8, "ascii");
  return header;
}

/** Zero bytes that round `size` up to a whole block. */
function padding(size: number): Buffer {
  return Buffer.alloc((BLOCK - (size % BLOCK)) % BLOCK);
}

/** The archive's bytes, chunk by chunk, ending with the two zero blocks. */
export async function* writeTar(
  sources: AsyncIterable<TarSource> | Iterable<TarSource>,
): AsyncGenerator<Buffer> {
  for await (const source of sources) {
    let size: number;
    if ("read" in source) {
      const content = await source.read();
      size = content.length;
      yield tarHeader(source.name, size);
      yield Buffer.from(content.buffer, content.byteOffset, content.byteLength);
    } else {
      size = source.size;
      yield tarHeader(source.name, size);
      let written = 0;
      for await (const chunk of source.chunks()) {
        written += chunk.length;
        if (written > size) break;
        yield Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      }
      // A wrong size would shift every later header: fail the stream rather than send a corrupt archive.
      if (written !== size) throw new Error(`tar entry ${source.name}: ${written} bytes, declared ${size}`);
    }
    const pad = padding(size);
    if (pad.length > 0) yield pad;
  }
  yield Buffer.alloc(2 * BLOCK);
}

/** Bytes a tar of files with these sizes takes (headers, padding, end blocks). */
export function tarBytes(sizes: Iterable<number>): number {
  let total = 2 * BLOCK;
  for (const size of sizes) total += BLOCK + size + padding(size).length;
  return total;
}

/** The whole archive in one buffer (tests, small shards). */
export async function tarToBuffer(sources: AsyncIterable<TarSource> | Iterable<TarSource>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of writeTar(sources)) chunks.push(chunk);
  return Buffer.concat(chunks);
}
