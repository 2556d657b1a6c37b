import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { DatasetChunkSchema } from "../gen/diffda/common/v1/dataset_pb.js";
import { ImageFormat } from "../gen/diffda/common/v1/image_pb.js";
import { RpcError } from "../rpc/index.js";
import { createEventChannel } from "./events.js";
import { createLimiter } from "./limiter.js";
import {
  ChunkAssembler,
  decodeImageData,
  intField,
  numberField,
  optionalNumber,
  pngImageData,
  seedField,
  sha256Hex,
  verifyArtifact,
} from "./wire/index.js";

function fieldOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof RpcError, String(error));
    assert.equal(error.grpcCode, 3);
    return error.details.field;
  }
  return undefined;
}

describe("wire", () => {
  it("field checks name the field and keep their bounds", () => {
    assert.equal(
      fieldOf(() => intField(0, "count", { min: 1 })),
      "count",
    );
    assert.equal(
      fieldOf(() => intField(1.5, "count", { min: 1 })),
      "count",
    );
    assert.equal(
      fieldOf(() => numberField(Number.NaN, "x.strength", { min: 0, max: 1 })),
      "x.strength",
    );
    assert.equal(
      fieldOf(() => optionalNumber(0, "eps", { min: 0, exclusiveMin: true }, 1)),
      "eps",
    );
    assert.equal(optionalNumber(undefined, "eps", { min: 0 }, 0.8), 0.8);
    assert.equal(
      fieldOf(() => seedField(2n ** 53n, "seed")),
      "seed",
    );
    assert.equal(seedField(2n ** 53n - 1n, "seed"), Number.MAX_SAFE_INTEGER);
  });

  it("decodes RAW_U8 and PNG images, checks sizes and checksums", async () => {
    const raw = new Uint8Array([0, 255, 128, 64, 32, 16]);
    const rgb = await decodeImageData(
      { format: ImageFormat.RAW_U8, data: raw, width: 2, height: 1, channels: 3, sha256: "" } as never,
      "img",
    );
    assert.deepEqual([rgb.channels, rgb.height, rgb.width], [3, 1, 2]);
    assert.ok(Math.abs(rgb.data[0] - 0) < 1e-6 && Math.abs(rgb.data[2] - 1) < 1e-6);
    const png = await pngImageData({
      data: new Float32Array(16).fill(0.5),
      channels: 1,
      height: 4,
      width: 4,
    });
    assert.equal(png.sha256, sha256Hex(png.data));
    const back = await decodeImageData(png, "img", { channels: 3, height: 8, width: 8 });
    assert.deepEqual([back.channels, back.height, back.width], [3, 8, 8]);
    await assert.rejects(
      decodeImageData({ ...png, sha256: "f".repeat(64) }, "sources[2].image"),
      (e: unknown) =>
        e instanceof RpcError &&
        e.code === "checksum_mismatch" &&
        e.details.field === "sources[2].image.sha256",
    );
    await assert.rejects(
      decodeImageData({ ...png, width: 5 }, "img"),
      (e: unknown) => e instanceof RpcError && e.details.field === "img.width",
    );
    await assert.rejects(
      decodeImageData({ ...png, format: ImageFormat.RAW_U8 } as never, "img"),
      (e: unknown) => e instanceof RpcError && e.grpcCode === 3,
    );
  });

  it("verifies artifacts: bare names, checksums, and an owned copy of the bytes", () => {
    const content = Buffer.from([1, 2, 3, 4, 5]).subarray(1);
    const bytes = verifyArtifact(
      { name: "a.safetensors", content, sha256: sha256Hex(content) } as never,
      "f",
    );
    assert.equal(bytes.byteOffset, 0);
    assert.equal(bytes.buffer.byteLength, 4);
    assert.deepEqual([...bytes], [2, 3, 4, 5]);
    for (const name of ["../x", "a/b", "a\\b", "", "bad\u0001"]) {
      assert.equal(
        fieldOf(() => verifyArtifact({ name, content, sha256: "" } as never, "f")),
        "f.name",
        name,
      );
    }
  });

  it("reassembles chunks in order and checks the declared count", () => {
    const chunk = (offset: number, n: number) =>
      create(DatasetChunkSchema, { offset, images: Array.from({ length: n }, () => ({ label: 0 })) });
    const set = new ChunkAssembler("chunk", 5);
    set.add(chunk(0, 2));
    set.add(chunk(2, 3));
    assert.equal(set.finish().length, 5);
    const gap = new ChunkAssembler("chunk", 5);
    assert.throws(
      () => gap.add(chunk(1, 2)),
      (e: unknown) =>
        e instanceof RpcError && e.code === "invalid_stream" && e.details.field === "chunk.offset",
    );
    const short = new ChunkAssembler("chunk", 5);
    short.add(chunk(0, 4));
    assert.throws(
      () => short.finish(),
      (e: unknown) => e instanceof RpcError && e.code === "invalid_stream",
    );
    assert.throws(() => short.add(chunk(4, 2)), /more images/);
  });

  it("event channels coalesce superseded progress and end with the failure after queued events", async () => {
    const channel = createEventChannel<{ kind: string; n: number }>(
      (a, b) => a.kind === "p" && b.kind === "p",
    );
    channel.push({ kind: "p", n: 1 });
    channel.push({ kind: "p", n: 2 });
    channel.push({ kind: "image", n: 3 });
    channel.fail(new Error("boom"));
    const seen: number[] = [];
    await assert.rejects(async () => {
      for await (const e of channel) seen.push(e.n);
    }, /boom/);
    assert.deepEqual(seen, [2, 3]);
  });

  it("limits concurrency in arrival order and drops waiters whose signal fires", async () => {
    const limiter = createLimiter(1);
    const free = await limiter.acquire();
    const controller = new AbortController();
    const order: string[] = [];
    const cancelled = limiter.acquire(controller.signal).catch(() => order.push("cancelled"));
    const next = limiter.acquire().then((f) => {
      order.push("next");
      return f;
    });
    assert.equal(limiter.waiting, 2);
    controller.abort(new Error("gone"));
    await cancelled;
    free();
    (await next)();
    assert.deepEqual(order, ["cancelled", "next"]);
    assert.equal(limiter.active, 0);
  });
});
