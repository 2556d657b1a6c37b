import { crc32, deflateSync } from "node:zlib";
import sharp from "sharp";

/** Helpers that make tiny images for tests (not part of the public API). */

/** A solid-colour image in the given format. */
export async function solidImage(
  format: "png" | "jpeg" | "webp" | "gif",
  width: number,
  height: number,
  rgb: [number, number, number],
): Promise<Uint8Array> {
  const raw = Buffer.alloc(width * height * 3);
  for (let p = 0; p < width * height; p++) raw.set(rgb, p * 3);
  const image = sharp(raw, { raw: { width, height, channels: 3 } });
  const encoded =
    format === "png"
      ? image.png()
      : format === "jpeg"
        ? image.jpeg({ quality: 100 })
        : format === "webp"
          ? image.webp({ lossless: true })
          : image.gif();
  return new Uint8Array(await encoded.toBuffer());
}

/**
 * Noise, so that PNG cannot compress it: `side`² RGB pixels make a file of about 3·side² bytes. `seed`
 * picks the noise (a linear congruential generator: reproducible, and no image looks like another).
 */
export async function noisePng(side: number, seed = 1): Promise<Buffer> {
  const raw = Buffer.alloc(side * side * 3);
  let state = seed;
  for (let i = 0; i < raw.length; i++) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    raw[i] = state >>> 24;
  }
  return sharp(raw, { raw: { width: side, height: side, channels: 3 } })
    .png()
    .toBuffer();
}

function chunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, "latin1"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

/**
 * A decompression-bomb-style PNG: a valid header declaring `width`×`height` 8-bit gray pixels, followed by
 * a small IDAT (only the first rows). A decoder that trusted the header would allocate width·height bytes.
 */
export function bombPng(width: number, height: number): Uint8Array {
  const rows = Buffer.alloc((width + 1) * 4); // filter byte + pixels, 4 rows of zeros
  return grayPng(width, height, deflateSync(rows));
}

/** A PNG with a valid header and checksums whose pixel data is not a zlib stream: only decoding notices. */
export function corruptPixelsPng(width: number, height: number): Uint8Array {
  return grayPng(width, height, Buffer.alloc(64, 0x55));
}

function grayPng(width: number, height: number, idat: Buffer): Uint8Array {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // grayscale
  return new Uint8Array(
    Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      chunk("IHDR", ihdr),
      chunk("IDAT", idat),
      chunk("IEND", Buffer.alloc(0)),
    ]),
  );
}
