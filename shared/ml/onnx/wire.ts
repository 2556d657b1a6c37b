/**
 * Protocol-buffers wire format: just enough to read and write onnx.proto (proto2, no groups).
 * Wire types: 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32.
 */

export const VARINT = 0;
const FIXED64 = 1;
const LEN = 2;
export const FIXED32 = 5;

const INT64_MAX = (1n << 63n) - 1n;
const INT64_MIN = -(1n << 63n);
const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8", { fatal: false });

/**
 * Accumulates encoded bytes as a list of chunks, so large payloads (tensor raw data) are referenced rather
 * than copied until `finish()`, and nested messages cost one copy in total.
 */
export class ProtoWriter {
  readonly #chunks: Uint8Array[] = [];
  #scratch = new Uint8Array(256);
  #used = 0;
  #length = 0;

  /** Total number of bytes written so far. */
  get length(): number {
    return this.#length;
  }

  #flush(): void {
    if (this.#used > 0) {
      this.#chunks.push(this.#scratch.slice(0, this.#used));
      this.#used = 0;
    }
  }

  #byte(b: number): void {
    if (this.#used === this.#scratch.length) this.#flush();
    this.#scratch[this.#used++] = b;
    this.#length++;
  }

  /** Appends bytes verbatim (referenced, not copied, when large). */
  raw(bytes: Uint8Array): this {
    if (bytes.length <= 64) {
      for (const b of bytes) this.#byte(b);
      return this;
    }
    this.#flush();
    this.#chunks.push(bytes);
    this.#length += bytes.length;
    return this;
  }

  /** An unsigned varint; negative numbers are written as 64-bit two's complement (10 bytes), as int64 requires. */
  varint(value: number | bigint): this {
    if (typeof value === "number" && value >= 0 && value <= 0xffff_ffff && Number.isInteger(value)) {
      let v = value;
      while (v > 0x7f) {
        this.#byte((v & 0x7f) | 0x80);
        v = Math.floor(v / 128);
      }
      this.#byte(v);
      return this;
    }
    let big = typeof value === "bigint" ? value : BigInt(Math.trunc(value));
    if (big > INT64_MAX) big = INT64_MAX;
    if (big < INT64_MIN) big = INT64_MIN;
    if (big < 0n) big += 1n << 64n;
    while (big > 0x7fn) {
      this.#byte(Number(big & 0x7fn) | 0x80);
      big >>= 7n;
    }
    this.#byte(Number(big));
    return this;
  }

  tag(field: number, wireType: number): this {
    return this.varint(field * 8 + wireType);
  }

  int64(field: number, value: number | bigint): this {
    return this.tag(field, VARINT).varint(value);
  }

  float(field: number, value: number): this {
    this.tag(field, FIXED32);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    return this.raw(b);
  }

  bytes(field: number, value: Uint8Array): this {
    return this.tag(field, LEN).varint(value.length).raw(value);
  }

  string(field: number, value: string): this {
    return this.bytes(field, utf8.encode(value));
  }

  /** A nested message: `write` fills a child writer whose bytes are then appended by reference. */
  message(field: number, write: (w: ProtoWriter) => void): this {
    const child = new ProtoWriter();
    write(child);
    this.tag(field, LEN).varint(child.length);
    child.#flush();
    this.#flush();
    for (const chunk of child.#chunks) this.#chunks.push(chunk);
    this.#length += child.length;
    return this;
  }

  packedVarints(field: number, values: ArrayLike<number | bigint>): this {
    if (values.length === 0) return this;
    const child = new ProtoWriter();
    for (let i = 0; i < values.length; i++) child.varint(values[i]);
    return this.bytes(field, child.finish());
  }

  packedFloats(field: number, values: ArrayLike<number>): this {
    if (values.length === 0) return this;
    const b = new Uint8Array(values.length * 4);
    const view = new DataView(b.buffer);
    for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i], true);
    return this.bytes(field, b);
  }

  packedDoubles(field: number, values: ArrayLike<number>): this {
    if (values.length === 0) return this;
    const b = new Uint8Array(values.length * 8);
    const view = new DataView(b.buffer);
    for (let i = 0; i < values.length; i++) view.setFloat64(i * 8, values[i], true);
    return this.bytes(field, b);
  }

  /** Concatenates everything written into one buffer. */
  finish(): Uint8Array {
    this.#flush();
    if (this.#chunks.length === 1) return this.#chunks[0];
    const out = new Uint8Array(this.#length);
    let offset = 0;
    for (const chunk of this.#chunks) {
      out.set(chunk, offset);
      offset += chunk.length;
    }
    return out;
  }
}

/** A field's tag as read from the wire; its value follows at the reader's position. */
export interface WireField {
  field: number;
  wireType: number;
  /** Offset of the tag in the buffer, so unknown fields can be kept verbatim. */
  start: number;
}

/** Reads fields from a protobuf message held in a byte array. */
export class ProtoReader {
  readonly buf: Uint8Array;
  pos: number;
  readonly end: number;
  readonly #view: DataView;

  constructor(buf: Uint8Array, start = 0, end = buf.length) {
    this.buf = buf;
    this.pos = start;
    this.end = end;
    this.#view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  #fail(what: string): never {
    throw new Error(`malformed protobuf: ${what} at byte ${this.pos}`);
  }

  /** A varint as a JS number when exact (up to 2^53), otherwise as a bigint. Decodes int64 negatives. */
  varint(): number | bigint {
    let result = 0;
    let multiplier = 1;
    const start = this.pos;
    for (let i = 0; i < 7; i++) {
      if (this.pos >= this.end) this.#fail("truncated varint");
      const b = this.buf[this.pos++];
      result += (b & 0x7f) * multiplier;
      if (b < 0x80) return result;
      multiplier *= 128;
    }
    // Long varint (large or negative int64): redo with bigint.
    this.pos = start;
    let big = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) this.#fail("truncated varint");
      const b = this.buf[this.pos++];
      big |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) {
        big = BigInt.asIntN(64, big);
        return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER)
          ? Number(big)
          : big;
      }
      shift += 7n;
    }
    this.#fail("varint longer than 10 bytes");
  }

  /** A varint that must fit a JS number (lengths, tags, enum values). */
  uint(): number {
    const v = this.varint();
    if (typeof v !== "number" || v < 0) this.#fail("length or tag out of range");
    return v;
  }

  /** Reads the next tag; returns undefined at the end of the message. */
  next(): WireField | undefined {
    if (this.pos >= this.end) return undefined;
    const start = this.pos;
    const key = this.uint();
    const field = Math.floor(key / 8);
    if (field === 0) this.#fail("field number 0");
    return { field, wireType: key & 7, start };
  }

  /** The bytes of a length-delimited field, as a view into the buffer (no copy). */
  bytes(): Uint8Array {
    const n = this.uint();
    if (this.pos + n > this.end) this.#fail("length past end of message");
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  string(): string {
    return utf8Decoder.decode(this.bytes());
  }

  /** A sub-reader over a length-delimited nested message. */
  sub(): ProtoReader {
    const n = this.uint();
    if (this.pos + n > this.end) this.#fail("length past end of message");
    const r = new ProtoReader(this.buf, this.pos, this.pos + n);
    this.pos += n;
    return r;
  }

  float(): number {
    if (this.pos + 4 > this.end) this.#fail("truncated fixed32");
    const v = this.#view.getFloat32(this.pos, true);
    this.pos += 4;
    return v;
  }

  double(): number {
    if (this.pos + 8 > this.end) this.#fail("truncated fixed64");
    const v = this.#view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }

  /** Skips the value of a field of the given wire type. */
  skip(wireType: number): void {
    switch (wireType) {
      case VARINT:
        this.varint();
        return;
      case FIXED64:
        this.pos += 8;
        break;
      case LEN: {
        const n = this.uint(); // read before adding: `pos += uint()` would add to the old position
        this.pos += n;
        break;
      }
      case FIXED32:
        this.pos += 4;
        break;
      default:
        this.#fail(`unsupported wire type ${wireType}`);
    }
    if (this.pos > this.end) this.#fail("field past end of message");
  }

  /** Repeated varints, packed (LEN) or not (single VARINT). */
  repeatedVarints(wireType: number, out: (number | bigint)[]): void {
    if (wireType === LEN) {
      const r = this.sub();
      while (!r.done) out.push(r.varint());
    } else out.push(this.varint());
  }

  repeatedFloats(wireType: number, out: number[]): void {
    if (wireType === LEN) {
      const r = this.sub();
      while (!r.done) out.push(r.float());
    } else out.push(this.float());
  }

  repeatedDoubles(wireType: number, out: number[]): void {
    if (wireType === LEN) {
      const r = this.sub();
      while (!r.done) out.push(r.double());
    } else out.push(this.double());
  }
}
