/**
 * The byte-level alphabet of GPT-2 and CLIP (`bytes_to_unicode`): every byte maps to one printable character,
 * so BPE works on strings without whitespace or control characters. Printable Latin-1 bytes ('!'–'~', '¡'–'¬',
 * '®'–'ÿ') map to themselves; the other 68 bytes map, in byte order, to U+0100, U+0101, … (so the space byte
 * 0x20 becomes 'Ġ' U+0120).
 */
function buildByteEncoder(): readonly string[] {
  const printable: number[] = [];
  const ranges: [number, number][] = [
    [0x21, 0x7e],
    [0xa1, 0xac],
    [0xae, 0xff],
  ];
  for (const [start, end] of ranges) for (let b = start; b <= end; b++) printable.push(b);
  const encoder = new Array<string>(256);
  for (const b of printable) encoder[b] = String.fromCodePoint(b);
  let next = 0;
  for (let b = 0; b < 256; b++) {
    if (encoder[b] === undefined) encoder[b] = String.fromCodePoint(256 + next++);
  }
  return Object.freeze(encoder);
}

/** Byte → character of the byte-level alphabet. */
export const BYTE_ENCODER: readonly string[] = buildByteEncoder();

/** Character of the byte-level alphabet → byte. */
export const BYTE_DECODER: ReadonlyMap<string, number> = new Map(
  BYTE_ENCODER.map((char, byte) => [char, byte]),
);

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8", { fatal: false });

/** A string's UTF-8 bytes written in the byte-level alphabet. */
export function toByteLevel(text: string): string {
  let out = "";
  for (const byte of utf8.encode(text)) out += BYTE_ENCODER[byte];
  return out;
}

/** Inverse of {@link toByteLevel}; invalid UTF-8 becomes U+FFFD (Python's `errors="replace"`). */
export function fromByteLevel(text: string): string {
  const bytes: number[] = [];
  for (const char of text) {
    const byte = BYTE_DECODER.get(char);
    if (byte !== undefined) bytes.push(byte);
    else for (const b of utf8.encode(char)) bytes.push(b);
  }
  return utf8Decoder.decode(Uint8Array.from(bytes));
}
