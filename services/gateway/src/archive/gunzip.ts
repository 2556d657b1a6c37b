/**
 * Bounded gzip decompression (RFC 1952) for tar.gz uploads. The member framing is read here rather than
 * by zlib's gunzip, so that nothing is tolerated silently: reserved flag bits, a header CRC that fails,
 * a CRC-32 or length in the trailer that disagrees, bytes after the last member (zlib's gunzip drops
 * those) are all refusals. The deflate data is inflated by node:zlib with `maxOutputLength`, a hard cap
 * on the bytes actually produced, so a gzip bomb stops at the cap instead of filling memory.
 */
import { crc32, inflateRaw, type Zlib } from "node:zlib";
import { ApiError } from "../errors.js";

/** Raw inflate that also says how many input bytes the deflate stream took (`info: true`). */
function inflateRawInfo(
  data: Buffer,
  maxOutputLength: number,
): Promise<{ buffer: Buffer; consumed: number }> {
  return new Promise((resolve, reject) => {
    // With `info` the callback gets the buffer and the engine, which @types/node does not model.
    const done = (error: Error | null, result: unknown) => {
      if (error) return reject(error);
      const { buffer, engine } = result as { buffer: Buffer; engine: Zlib };
      resolve({ buffer, consumed: engine.bytesWritten });
    };
    inflateRaw(data, { info: true, maxOutputLength }, done as Parameters<typeof inflateRaw>[2]);
  });
}

const FTEXT = 0x01;
const FHCRC = 0x02;
const FEXTRA = 0x04;
const FNAME = 0x08;
const FCOMMENT = 0x10;
const RESERVED_FLAGS = 0xff & ~(FTEXT | FHCRC | FEXTRA | FNAME | FCOMMENT);

/** The first two bytes of every gzip member. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

const invalid = (detail: string) => new ApiError("archive_invalid", `not valid gzip data: ${detail}`);

/** Where the deflate data of the member whose header starts at `at` begins. */
function memberDataStart(buf: Buffer, at: number): number {
  if (buf[at] !== 0x1f || buf[at + 1] !== 0x8b) {
    throw invalid(at === 0 ? "no gzip magic" : "bytes after the end of the gzip stream");
  }
  if (at + 10 > buf.length) throw invalid("a member header is truncated");
  if (buf[at + 2] !== 8) throw invalid(`compression method ${buf[at + 2]}; only deflate (8)`);
  const flags = buf[at + 3];
  if (flags & RESERVED_FLAGS) throw invalid("reserved header flags are set");
  let pos = at + 10;
  if (flags & FEXTRA) {
    if (pos + 2 > buf.length) throw invalid("the extra field is truncated");
    pos += 2 + buf.readUInt16LE(pos);
  }
  for (const flag of [FNAME, FCOMMENT]) {
    if (!(flags & flag)) continue;
    const end = buf.indexOf(0, pos);
    if (end < 0) throw invalid("the file name or comment is not terminated");
    pos = end + 1;
  }
  if (flags & FHCRC) {
    if (pos + 2 > buf.length) throw invalid("the header CRC is truncated");
    if ((crc32(buf.subarray(at, pos)) & 0xffff) !== buf.readUInt16LE(pos))
      throw invalid("the header CRC fails");
    pos += 2;
  }
  if (pos > buf.length) throw invalid("a member header is truncated");
  return pos;
}

/**
 * Decompresses every member of a gzip stream, concatenated, producing at most `maxBytes` bytes: past it
 * the stream is refused with `archive_bomb` (detail `tooLarge`), before more is allocated. Anything else
 * wrong is `archive_invalid`.
 */
export async function gunzipBounded(input: Uint8Array, maxBytes: number, tooLarge: string): Promise<Buffer> {
  const buf = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  const parts: Buffer[] = [];
  let produced = 0;
  let at = 0;
  do {
    const start = memberDataStart(buf, at);
    let inflated: { buffer: Buffer; consumed: number };
    try {
      // At least 1: zlib refuses a cap of 0, and an empty member still has to be read to its end.
      inflated = await inflateRawInfo(buf.subarray(start), Math.max(1, maxBytes - produced));
    } catch (error) {
      if (error instanceof RangeError || (error as { code?: string }).code === "ERR_BUFFER_TOO_LARGE") {
        throw new ApiError("archive_bomb", tooLarge);
      }
      throw invalid((error as Error).message);
    }
    const { buffer, consumed } = inflated;
    produced += buffer.length;
    if (produced > maxBytes) throw new ApiError("archive_bomb", tooLarge);
    // The engine's bytesWritten counts the input the inflater consumed: the member's trailer follows it.
    const trailer = start + consumed;
    if (trailer + 8 > buf.length) throw invalid("the stream is truncated");
    if (buf.readUInt32LE(trailer) !== crc32(buffer) >>> 0) throw invalid("the CRC-32 fails");
    if (buf.readUInt32LE(trailer + 4) !== buffer.length % 2 ** 32) throw invalid("the length disagrees");
    parts.push(buffer);
    at = trailer + 8;
  } while (at < buf.length);
  return parts.length === 1 ? parts[0] : Buffer.concat(parts);
}
