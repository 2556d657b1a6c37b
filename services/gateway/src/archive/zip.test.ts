import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { ApiError } from "../errors.js";
import { craftZip } from "../test-support.js";
import { readZip, type ZipLimits } from "./zip-reader.js";
import { zipToBuffer } from "./zip-writer.js";

const LIMITS: ZipLimits = { maxEntries: 20, maxEntryBytes: 1 << 20, maxTotalBytes: 4 << 20, maxRatio: 50 };

async function refusal(archive: Buffer, limits: ZipLimits = LIMITS): Promise<ApiError> {
  try {
    await readZip(archive, limits);
  } catch (error) {
    assert.ok(error instanceof ApiError, `expected an ApiError, got ${error}`);
    return error;
  }
  assert.fail("the archive was accepted");
}

/** `craftZip` of one entry rewritten the way streaming writers do: flag 3, zeros locally, a signed descriptor. */
function withDescriptor(name: string, data: Buffer): Buffer {
  const zip = craftZip([{ name, data }]);
  const local = 30 + Buffer.byteLength(name);
  const end = local + zip.readUInt32LE(18);
  const descriptor = Buffer.alloc(16);
  descriptor.writeUInt32LE(0x08074b50, 0);
  zip.copy(descriptor, 4, 14, 26); // CRC-32, compressed size, size
  const out = Buffer.concat([zip.subarray(0, end), descriptor, zip.subarray(end)]);
  out.writeUInt16LE(out.readUInt16LE(6) | 0x8, 6);
  out.fill(0, 14, 26);
  const cd = end + 16;
  out.writeUInt16LE(out.readUInt16LE(cd + 8) | 0x8, cd + 8);
  out.writeUInt32LE(cd, out.length - 22 + 16);
  return out;
}

describe("zip reader and writer", () => {
  test("the writer's archives read back, names and bytes intact", async () => {
    const files = [
      { name: "cat/", bytes: new Uint8Array() },
      { name: "cat/0.png", bytes: new Uint8Array([1, 2, 3]) },
      { name: "dög/ü.png", bytes: new Uint8Array(1000).fill(7) },
    ];
    const archive = await zipToBuffer(files.map((f) => ({ name: f.name, read: async () => f.bytes })));
    const entries = await readZip(archive, LIMITS);
    assert.deepEqual(
      entries.map((e) => [e.name, Buffer.from(e.bytes).toString("hex")]),
      files.map((f) => [f.name, Buffer.from(f.bytes).toString("hex")]),
    );
  });

  test("the writer's archives are readable by the system unzip", async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "zipw-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const archive = await zipToBuffer([{ name: "a/b.txt", read: async () => Buffer.from("hello") }]);
    writeFileSync(join(dir, "x.zip"), archive);
    try {
      execFileSync("unzip", ["-q", join(dir, "x.zip"), "-d", join(dir, "out")]);
    } catch (error) {
      if ((error as { code?: string }).code === "ENOENT") return t.skip("no unzip on this machine");
      throw error;
    }
    assert.equal(readFileSync(join(dir, "out/a/b.txt"), "utf8"), "hello");
  });

  test("deflated entries from a crafted archive inflate and pass their CRC", async () => {
    const data = Buffer.from("x".repeat(3000));
    const entries = await readZip(craftZip([{ name: "a/b", data }]), LIMITS);
    assert.equal(Buffer.from(entries[0].bytes).toString(), data.toString());
  });

  for (const [name, why] of [
    ["../evil.png", "parent segment"],
    ["cat/../../evil.png", "nested parent segment"],
    ["/etc/passwd", "absolute path"],
    ["cat\\evil.png", "backslash"],
    ["C:/evil.png", "drive letter"],
    ["cat/./x.png", "dot segment"],
    ["cat//x.png", "empty segment"],
    ["cat/x\u0000.png", "NUL byte"],
  ]) {
    test(`an entry with a ${why} is archive_unsafe_path`, async () => {
      const error = await refusal(craftZip([{ name, data: Buffer.from("x") }]));
      assert.equal(error.code, "archive_unsafe_path");
      assert.equal(error.status, 400);
    });
  }

  test("a symlink entry is archive_unsafe_path before anything is inflated", async () => {
    const error = await refusal(
      craftZip([{ name: "cat/link.png", data: Buffer.from("/etc/passwd"), unixMode: 0o120777 }]),
    );
    assert.equal(error.code, "archive_unsafe_path");
    assert.match(error.message, /symlink/);
  });

  test("a high compression ratio is archive_bomb", async () => {
    const error = await refusal(craftZip([{ name: "a/zeros", data: Buffer.alloc(1 << 20) }]));
    assert.equal(error.code, "archive_bomb");
    assert.equal(error.status, 413);
  });

  test("declared sizes over the total are archive_bomb without inflating", async () => {
    const entries = Array.from({ length: 5 }, (_, i) => ({
      name: `a/${i}`,
      data: Buffer.from("x"),
      declaredSize: 1 << 20,
    }));
    const error = await refusal(craftZip(entries), { ...LIMITS, maxRatio: 1e12 });
    assert.equal(error.code, "archive_bomb");
    assert.match(error.message, /declares/);
  });

  test("an entry that inflates past its declared size stops at the cap and is archive_bomb", async () => {
    // Declares 100 bytes, holds 200 KiB of zeros: the ratio check passes (100 bytes is tiny).
    const error = await refusal(
      craftZip([{ name: "a/liar", data: Buffer.alloc(200 * 1024), declaredSize: 100 }]),
    );
    assert.equal(error.code, "archive_bomb");
    assert.match(error.message, /inflates past/);
  });

  test("overlapping entries (one stream counted many times) are archive_bomb", async () => {
    const one = craftZip([{ name: "a/0", data: Buffer.from("hello"), method: "store" }]);
    // Rewrite the archive so that a second central entry points at the first entry's data.
    const eocd = one.length - 22;
    const cdOffset = one.readUInt32LE(eocd + 16);
    const cd = one.subarray(cdOffset, eocd);
    const second = Buffer.from(cd);
    second.write("a/1", 46, "utf8");
    const archive = Buffer.concat([one.subarray(0, cdOffset), cd, second, one.subarray(eocd)]);
    archive.writeUInt16LE(2, archive.length - 22 + 8);
    archive.writeUInt16LE(2, archive.length - 22 + 10);
    archive.writeUInt32LE(cd.length * 2, archive.length - 22 + 12);
    const error = await refusal(archive);
    assert.equal(error.code, "archive_bomb");
    assert.match(error.message, /overlap/);
  });

  test("more entries than allowed is too_many_files, read from the end record", async () => {
    const entries = Array.from({ length: 21 }, (_, i) => ({ name: `a/${i}`, data: Buffer.from("x") }));
    const error = await refusal(craftZip(entries));
    assert.equal(error.code, "too_many_files");
  });

  test("garbage, truncation, a bad CRC and duplicates are archive_invalid", async () => {
    assert.equal((await refusal(Buffer.from("definitely not a zip archive"))).code, "archive_invalid");
    const good = craftZip([{ name: "a/b", data: Buffer.from("hello world") }]);
    assert.equal((await refusal(good.subarray(0, good.length - 5))).code, "archive_invalid");
    const corrupt = craftZip([{ name: "a/b", data: Buffer.from("hello world"), method: "store" }]);
    corrupt[30 + 3] ^= 0xff; // flip a byte of the stored data
    assert.match((await refusal(corrupt)).message, /CRC/);
    const twice = craftZip([
      { name: "a/b", data: Buffer.from("1") },
      { name: "a/b", data: Buffer.from("2") },
    ]);
    assert.match((await refusal(twice)).message, /twice/);
  });

  test("a name, size, CRC or method changed in one header only is archive_invalid", async () => {
    const good = craftZip([{ name: "cat/0.png", data: Buffer.from("hello world"), method: "store" }]);
    const cd = good.readUInt32LE(good.length - 22 + 16);
    for (const [at, mask, field] of [
      [cd + 46, 0x20, "name"], // central directory only: "cat/" → "Cat/"
      [30, 0x20, "name"], // local header only
      [22, 0x01, "size"],
      [14, 0x20, "CRC-32"],
      [cd + 10, 0x08, "compression method"], // stored → deflate
      [cd + 8, 0x02, "flags"],
    ] as const) {
      const damaged = Buffer.from(good);
      damaged[at] ^= mask;
      const error = await refusal(damaged);
      assert.equal(error.code, "archive_invalid", `${field}: ${error.message}`);
      assert.match(error.message, new RegExp(`disagree on the ${field}`), field);
    }
  });

  test("names that differ only by case or Unicode normalisation are archive_invalid", async () => {
    for (const [a, b] of [
      ["cat/0.png", "Cat/1.png"],
      ["cat/x.png", "cat/X.png"],
      ["caf\u00e9/0.png", "cafe\u0301/1.png"],
    ]) {
      const error = await refusal(
        craftZip([
          { name: a, data: Buffer.from("1") },
          { name: b, data: Buffer.from("2") },
        ]),
      );
      assert.equal(error.code, "archive_invalid");
      assert.match(error.message, /differ only by case/);
    }
  });

  test("a data descriptor is honoured and checked against the central directory", async () => {
    const data = Buffer.from("streamed ".repeat(100));
    const entries = await readZip(withDescriptor("a/b.txt", data), LIMITS);
    assert.equal(Buffer.from(entries[0].bytes).toString(), data.toString());
    const bad = withDescriptor("a/b.txt", data);
    const descriptor = 30 + 7 + bad.readUInt32LE(bad.readUInt32LE(bad.length - 22 + 16) + 20);
    bad[descriptor + 4] ^= 1; // the descriptor's CRC-32
    assert.match((await refusal(bad)).message, /data descriptor/);
  });

  test("bytes between the central directory and the end record are archive_invalid", async () => {
    const good = craftZip([{ name: "a/b", data: Buffer.from("x") }]);
    const eocd = good.length - 22;
    const padded = Buffer.concat([good.subarray(0, eocd), Buffer.alloc(4), good.subarray(eocd)]);
    assert.equal((await refusal(padded)).code, "archive_invalid");
  });
});
