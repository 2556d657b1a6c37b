import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { f32, i64 } from "../onnx/tensor.js";
import { DataType } from "../onnx/types.js";
import { decodeSafetensors, encodeSafetensors, loadSafetensors, saveSafetensors } from "./index.js";

describe("safetensors", () => {
  it("writes the layout other tools read: length, padded JSON header, aligned contiguous data", () => {
    const bytes = encodeSafetensors({ b: f32([2], [1, 2]), a: i64([1], [7]) }, { format: "pt" });
    const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    assert.equal(headerLength % 8, 0);
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
    // I64 (8-byte) before F32 (4-byte): offsets aligned and contiguous.
    assert.deepEqual(header, {
      __metadata__: { format: "pt" },
      a: { dtype: "I64", shape: [1], data_offsets: [0, 8] },
      b: { dtype: "F32", shape: [2], data_offsets: [8, 16] },
    });
    assert.equal(bytes.length, 8 + headerLength + 16);
    const data = new DataView(bytes.buffer, 8 + headerLength);
    assert.equal(data.getBigInt64(0, true), 7n);
    assert.equal(data.getFloat32(8, true), 1);
    assert.equal(data.getFloat32(12, true), 2);
  });

  it("reads a file built by hand from the specification", () => {
    const header = new TextEncoder().encode('{"x":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}');
    const bytes = new Uint8Array(8 + header.length + 4);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(header.length), true);
    bytes.set(header, 8);
    bytes.set([0x00, 0x3c, 0x00, 0xc0], 8 + header.length); // 1.0 and -2.0 in IEEE half
    const { tensors, metadata } = decodeSafetensors(bytes);
    const x = tensors.get("x")!;
    assert.equal(x.dtype, DataType.FLOAT16);
    assert.deepEqual(Array.from(x.data as Uint16Array), [0x3c00, 0xc000]);
    assert.deepEqual(metadata, {});
  });

  it("decodes from a Node Buffer that is an unaligned view into a larger pool", () => {
    const encoded = encodeSafetensors({ w: f32([3], [1.5, -2, 3.25]) });
    // gRPC hands messages over as Buffers sharing one pool: put the file at an odd offset inside a bigger one.
    const pool = Buffer.alloc(encoded.length + 101, 0xff);
    pool.set(encoded, 13);
    const view = pool.subarray(13, 13 + encoded.length);
    const { tensors } = decodeSafetensors(view);
    assert.deepEqual(Array.from(tensors.get("w")!.data as Float32Array), [1.5, -2, 3.25]);
  });

  it("round-trips F32, F16, I64, I32 and metadata through a file", async () => {
    const dir = await mkdtemp(join(tmpdir(), "st-"));
    try {
      const path = join(dir, "t.safetensors");
      const tensors = {
        w: f32([2, 3], [1, 2, 3, 4, 5, -6.5]),
        h: { dtype: DataType.FLOAT16, dims: [3], data: Uint16Array.of(1, 2, 3) },
        step: i64([], [42]),
        ids: { dtype: DataType.INT32, dims: [2], data: Int32Array.of(-1, 5) },
        empty: f32([0, 4]),
      };
      await saveSafetensors(path, tensors, { step: "42" });
      const back = await loadSafetensors(path);
      assert.deepEqual(back.metadata, { step: "42" });
      for (const [name, t] of Object.entries(tensors)) {
        const got = back.tensors.get(name)!;
        assert.equal(got.dtype, t.dtype);
        assert.deepEqual(got.dims, t.dims);
        assert.deepEqual(
          Array.from(got.data as ArrayLike<unknown>),
          Array.from(t.data as ArrayLike<unknown>),
        );
      }
    } finally {
      await rm(dir, { recursive: true });
    }
  });

  it("rejects malformed files with a reason", () => {
    const good = encodeSafetensors({ w: f32([2], [1, 2]) });
    assert.throws(() => decodeSafetensors(good.subarray(0, 5)), /shorter/);
    assert.throws(() => decodeSafetensors(good.subarray(0, good.length - 4)), /data_offsets/);
    const bad = Uint8Array.from(good);
    new DataView(bad.buffer).setBigUint64(0, 1n << 40n, true);
    assert.throws(() => decodeSafetensors(bad), /header length/);
    const trailing = new Uint8Array(good.length + 4);
    trailing.set(good);
    assert.throws(() => decodeSafetensors(trailing), /trailing/);
  });
});
