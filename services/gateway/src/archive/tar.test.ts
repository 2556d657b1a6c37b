import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { constants, crc32, createGzip, gzipSync } from "node:zlib";
import { ApiError } from "../errors.js";
import { craftTar, craftZip, paxData, sealTarHeader, tarHeader } from "../test-support.js";
import { type ArchiveLimits, readArchive, sniffArchive } from "./read-archive.js";
import { readTar } from "./tar-reader.js";

const LIMITS: ArchiveLimits = {
  maxEntries: 20,
  maxEntryBytes: 1 << 20,
  maxTotalBytes: 4 << 20,
  maxRatio: 50,
};
const LONG_DIR = `class-${"d".repeat(60)}`;
const LONG_FILE = `${"f".repeat(110)}.png`;

/** The files every system-made archive holds (folders are implied by the paths). */
const FILES: Record<string, Buffer> = {
  "cat/0.png": Buffer.from("a cat"),
  "cat/1.png": Buffer.alloc(3000, 7),
  "dög/ü.png": Buffer.from([0, 1, 2, 255]),
  "empty/zero.png": Buffer.alloc(0),
  // 131 characters: ustar splits it into prefix and name, pax and GNU write it whole.
  [`${LONG_DIR}/${"g".repeat(60)}.png`]: Buffer.from("split"),
};

async function refusal(read: () => unknown): Promise<ApiError> {
  try {
    await read();
  } catch (error) {
    assert.ok(error instanceof ApiError, `expected an ApiError, got ${error}`);
    return error;
  }
  assert.fail("the archive was accepted");
}

/** name → hex of every file; folders as `name/` → "". */
function contents(entries: { name: string; bytes: Uint8Array }[]): Record<string, string> {
  return Object.fromEntries(entries.map((e) => [e.name, Buffer.from(e.bytes).toString("hex")]));
}

function expected(files: Record<string, Buffer>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, bytes] of Object.entries(files)) {
    const parts = name.split("/");
    for (let i = 1; i < parts.length; i++) out[`${parts.slice(0, i).join("/")}/`] = "";
    out[name] = bytes.toString("hex");
  }
  return out;
}

function hasTool(tool: string, args: string[]): boolean {
  try {
    execFileSync(tool, args, { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

describe("tar reader: archives from the system tar and python's tarfile", () => {
  let dir: string;
  let src: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "tar-"));
    src = join(dir, "src");
    for (const [name, bytes] of Object.entries(FILES)) {
      mkdirSync(dirname(join(src, name)), { recursive: true });
      writeFileSync(join(src, name), bytes);
    }
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const gnuTar = hasTool("tar", ["--version"]);
  const python = hasTool("python3", ["--version"]);

  for (const format of ["ustar", "pax", "gnu"]) {
    for (const gzip of [false, true]) {
      test(`tar --format=${format} ${gzip ? "-czf" : "-cf"} reads back the same files`, async (t) => {
        if (!gnuTar) return t.skip("no tar on this machine");
        const out = join(dir, `${format}.tar${gzip ? ".gz" : ""}`);
        // `.` makes every name start with `./`, as `tar -czf x.tgz .` in a dataset folder does.
        execFileSync("tar", [`--format=${format}`, gzip ? "-czf" : "-cf", out, "-C", src, "."]);
        const bytes = readFileSync(out);
        assert.equal(sniffArchive(bytes), gzip ? "tar.gz" : "tar");
        const entries = await readArchive(bytes, gzip ? "application/gzip" : "application/x-tar", LIMITS);
        assert.deepEqual(contents(entries), expected(FILES));
      });
    }
  }

  test("names over 100 characters in one segment: GNU `L` entries and pax `path` records", async (t) => {
    if (!gnuTar) return t.skip("no tar on this machine");
    mkdirSync(join(dir, "long", "cat"), { recursive: true });
    writeFileSync(join(dir, "long", "cat", LONG_FILE), "long");
    for (const format of ["gnu", "pax"]) {
      const out = join(dir, `long-${format}.tar`);
      execFileSync("tar", [`--format=${format}`, "-cf", out, "-C", join(dir, "long"), "cat"]);
      const raw = readFileSync(out);
      // The long name really is out of the header: an `L` entry or an `x` header precedes it.
      assert.ok(raw.includes(Buffer.from(format === "gnu" ? "././@LongLink" : "PaxHeaders")), format);
      const entries = readTar(raw, LIMITS);
      assert.deepEqual(contents(entries), {
        "cat/": "",
        [`cat/${LONG_FILE}`]: Buffer.from("long").toString("hex"),
      });
    }
  });

  for (const [format, mode] of [
    ["USTAR_FORMAT", "w"],
    ["GNU_FORMAT", "w"],
    ["PAX_FORMAT", "w"],
    ["PAX_FORMAT", "w:gz"],
    ["GNU_FORMAT", "w:gz"],
  ]) {
    test(`python tarfile ${format} (${mode}) reads back the same files`, async (t) => {
      if (!python) return t.skip("no python3 on this machine");
      const out = join(dir, `py-${format}-${mode.replace(":", "")}.tar`);
      const long = format === "USTAR_FORMAT" ? "" : `cat/${LONG_FILE}`;
      const script = [
        "import sys, tarfile, os",
        "src, out, fmt, mode, long = sys.argv[1:6]",
        "with tarfile.open(out, mode, format=getattr(tarfile, fmt)) as tar:",
        "    for name in sorted(os.listdir(src)):",
        "        tar.add(os.path.join(src, name), arcname=name)",
        "    if long:",
        "        info = tarfile.TarInfo(long); info.size = 4",
        "        import io; tar.addfile(info, io.BytesIO(b'long'))",
      ].join("\n");
      execFileSync("python3", ["-c", script, src, out, format, mode, long]);
      const entries = await readArchive(readFileSync(out), "application/x-tar", LIMITS);
      const want = expected(FILES);
      if (long) want[long] = Buffer.from("long").toString("hex");
      assert.deepEqual(contents(entries), want);
    });
  }

  test("a symlink made by tar is archive_unsafe_path naming it, before later entries are read", async (t) => {
    if (!gnuTar) return t.skip("no tar on this machine");
    const linkDir = join(dir, "links");
    mkdirSync(join(linkDir, "cat"), { recursive: true });
    symlinkSync("/etc/passwd", join(linkDir, "cat", "passwd.png"));
    const out = join(dir, "links.tar.gz");
    execFileSync("tar", ["-czf", out, "-C", linkDir, "cat"]);
    const error = await refusal(() => readArchive(readFileSync(out), "application/gzip", LIMITS));
    assert.equal(error.code, "archive_unsafe_path");
    assert.equal(error.status, 400);
    assert.match(error.message, /"cat\/passwd\.png" is a symlink/);
  });

  test("a hard link made by tar is archive_unsafe_path", async (t) => {
    if (!gnuTar) return t.skip("no tar on this machine");
    const linkDir = join(dir, "hard");
    mkdirSync(join(linkDir, "cat"), { recursive: true });
    writeFileSync(join(linkDir, "cat", "0.png"), "x");
    execFileSync("ln", [join(linkDir, "cat", "0.png"), join(linkDir, "cat", "1.png")]);
    const out = join(dir, "hard.tar");
    execFileSync("tar", ["-cf", out, "-C", linkDir, "cat"]);
    const error = await refusal(() => readTar(readFileSync(out), LIMITS));
    assert.equal(error.code, "archive_unsafe_path");
    assert.match(error.message, /is a hard link/);
  });
});

describe("tar reader: crafted archives", () => {
  const file = (name: string, data = "x") => ({ name, data: Buffer.from(data) });

  test("a crafted archive reads back; a folder without its slash gets one", () => {
    const entries = readTar(craftTar([{ name: "cat", type: "5" }, file("cat/0.png", "hello")]), LIMITS);
    assert.deepEqual(contents(entries), { "cat/": "", "cat/0.png": Buffer.from("hello").toString("hex") });
  });

  test("an archive of only its end blocks holds nothing", () => {
    assert.deepEqual(readTar(Buffer.alloc(1024), LIMITS), []);
  });

  test("base-256 sizes and pax sizes are read", () => {
    const data = Buffer.from("base two fifty-six");
    const b256 = readTar(craftTar([{ name: "a/b", data, base256: true, magic: "gnu" }]), LIMITS);
    assert.equal(Buffer.from(b256[0].bytes).toString(), data.toString());
    // The header says 0, the pax record says the truth (as writers do for sizes past 8 GiB).
    const pax = craftTar([
      { name: "PaxHeaders/b", type: "x", data: paxData({ size: String(data.length) }) },
      { name: "a/b", data, declaredSize: 0 },
    ]);
    assert.equal(Buffer.from(readTar(pax, LIMITS)[0].bytes).toString(), data.toString());
  });

  test("a git-archive style global header (a comment) is accepted; one that renames is not", async () => {
    const comment = { name: "pax_global_header", type: "g", data: paxData({ comment: "0123abcd" }) };
    assert.equal(readTar(craftTar([comment, file("a/b")]), LIMITS).length, 1);
    const renaming = { name: "pax_global_header", type: "g", data: paxData({ path: "a/c" }) };
    assert.match((await refusal(() => readTar(craftTar([renaming, file("a/b")]), LIMITS))).message, /global/);
  });

  for (const [name, why] of [
    ["../evil.png", "parent segment"],
    ["cat/../../evil.png", "nested parent segment"],
    ["/etc/passwd", "absolute path"],
    ["cat\\evil.png", "backslash"],
    ["C:/evil.png", "drive letter"],
    ["cat/./x.png", "dot segment"],
    ["cat//x.png", "empty segment"],
    ["cat/x\u0001.png", "control character"],
  ]) {
    test(`an entry with a ${why} is archive_unsafe_path, in the header, a pax path or a GNU long name`, async () => {
      const archives = [
        craftTar([{ ...file("x"), name }]),
        craftTar([{ name: "PaxHeaders/x", type: "x", data: paxData({ path: name }) }, file("cat/ok.png")]),
        craftTar([
          { name: "././@LongLink", type: "L", magic: "gnu", data: Buffer.from(`${name}\0`) },
          { ...file("cat/ok.png"), magic: "gnu" },
        ]),
      ];
      for (const archive of archives) {
        const error = await refusal(() => readTar(archive, LIMITS));
        assert.equal(error.code, "archive_unsafe_path", error.message);
        assert.equal(error.status, 400);
      }
    });
  }

  test("a NUL in a pax path is archive_unsafe_path (in a header field it ends the name)", async () => {
    const archive = craftTar([
      { name: "P/x", type: "x", data: paxData({ path: "cat/x\u0000.png" }) },
      file("a"),
    ]);
    assert.equal((await refusal(() => readTar(archive, LIMITS))).code, "archive_unsafe_path");
  });

  test("devices and FIFOs are archive_unsafe_path; sparse and other entry types archive_invalid", async () => {
    for (const [type, what] of [
      ["3", "character device"],
      ["4", "block device"],
      ["6", "FIFO"],
      ["2", "symlink"],
    ]) {
      const error = await refusal(() =>
        readTar(craftTar([{ name: "cat/dev", type, linkname: "x" }]), LIMITS),
      );
      assert.equal(error.code, "archive_unsafe_path");
      assert.match(error.message, new RegExp(`"cat/dev" is a ${what}`));
    }
    for (const type of ["S", "V", "M", "D"]) {
      const error = await refusal(() =>
        readTar(craftTar([{ ...file("cat/x"), type, magic: "gnu" }]), LIMITS),
      );
      assert.equal(error.code, "archive_invalid", type);
    }
    const sparse = craftTar([
      { name: "P/x", type: "x", data: paxData({ "GNU.sparse.major": "1" }) },
      file("cat/x"),
    ]);
    assert.match((await refusal(() => readTar(sparse, LIMITS))).message, /sparse/);
  });

  test("a bad checksum, a missing magic, a truncation or data after the end is archive_invalid", async () => {
    const good = craftTar([file("cat/0.png", "hello world")]);
    const cases: [string, Buffer, RegExp][] = [];
    const badSum = Buffer.from(good);
    badSum[0] ^= 0x01; // "cat" → "bat": the stored checksum no longer matches
    cases.push(["checksum", badSum, /fails its checksum/]);
    const sumField = Buffer.from(good);
    sumField.write("9", 148, "latin1");
    cases.push(["checksum field", sumField, /checksum field/]);
    cases.push(["no magic", craftTar([{ ...file("cat/0.png"), magic: "none" }]), /no ustar magic/]);
    cases.push(["not whole blocks", good.subarray(0, good.length - 5), /multiple of 512/]);
    cases.push(["no end blocks", good.subarray(0, 1024), /truncated/]);
    cases.push(["one end block", good.subarray(0, 1536), /lone zero block/]);
    cases.push([
      "data cut short",
      craftTar([file("cat/0.png", "x".repeat(2000))]).subarray(0, 1024),
      /truncated/,
    ]);
    cases.push(["junk after the end", Buffer.concat([good, tarHeader({ name: "x" })]), /follows the end/]);
    cases.push([
      "dangling pax",
      craftTar([{ name: "P/x", type: "x", data: paxData({ path: "a" }) }]),
      /not followed/,
    ]);
    cases.push([
      "two pax headers",
      craftTar([
        { name: "P/x", type: "x", data: paxData({ path: "a/b" }) },
        { name: "P/x", type: "x", data: paxData({ path: "a/c" }) },
        file("a/d"),
      ]),
      /two 'x' headers/,
    ]);
    cases.push([
      "bad pax record",
      craftTar([{ name: "P/x", type: "x", data: Buffer.from("99 path=a\n") }, file("a/b")]),
      /pax/,
    ]);
    cases.push(["a folder with data", craftTar([{ ...file("cat/", "x"), type: "5" }]), /declares data/]);
    cases.push(["a file named like a folder", craftTar([file("cat/", "x")]), /folder's name/]);
    const latin1 = craftTar([file("cat/e.png")]);
    latin1[4] = 0xe9; // "cat/\xe9.png": Latin-1, not UTF-8
    cases.push(["not UTF-8", sealTarHeader(latin1), /not valid UTF-8/]);
    for (const [what, archive, message] of cases) {
      const error = await refusal(() => readTar(archive, LIMITS));
      assert.equal(error.code, "archive_invalid", `${what}: ${error.message}`);
      assert.match(error.message, message, what);
    }
  });

  test("names repeated, or equal after case folding and NFC, are archive_invalid as in a zip", async () => {
    for (const [a, b] of [
      ["cat/0.png", "cat/0.png"],
      ["cat/0.png", "Cat/1.png"],
      ["caf\u00e9/0.png", "cafe\u0301/1.png"],
    ]) {
      const error = await refusal(() => readTar(craftTar([file(a), file(b)]), LIMITS));
      assert.equal(error.code, "archive_invalid");
      assert.match(error.message, /twice|differ only by case/);
    }
  });

  test("more entries than allowed is too_many_files; a size over the limits is archive_bomb unread", async () => {
    const many = craftTar(Array.from({ length: 21 }, (_, i) => file(`a/${i}`)));
    assert.equal((await refusal(() => readTar(many, LIMITS))).code, "too_many_files");
    // The 2 MiB entry is declared only: the archive holds none of its bytes, and is still a bomb, not truncated.
    const big = craftTar([{ name: "a/big", declaredSize: 2 << 20 }], { end: false });
    const error = await refusal(() => readTar(big, LIMITS));
    assert.equal(error.code, "archive_bomb");
    assert.match(error.message, /declares/);
    const total = craftTar(
      Array.from({ length: 5 }, (_, i) => ({ name: `a/${i}`, data: Buffer.alloc(1 << 20) })),
    );
    assert.match((await refusal(() => readTar(total, LIMITS))).message, /declares more than/);
  });
});

describe("tar.gz: the gzip layer", () => {
  const tar = craftTar([{ name: "cat/0.png", data: Buffer.from("hello world") }]);
  const read = (bytes: Buffer, type = "application/gzip") => readArchive(bytes, type, LIMITS);

  test("any tar media type takes both a plain tar and a tar.gz; a zip type takes neither", async () => {
    for (const type of [
      "application/x-tar",
      "application/tar",
      "application/x-gzip",
      "application/x-compressed-tar",
    ]) {
      assert.equal((await read(gzipSync(tar), type)).length, 1, type);
      assert.equal((await read(tar, type)).length, 1, type);
    }
    assert.match(
      (await refusal(() => read(tar, "application/zip"))).message,
      /send it as application\/x-tar/,
    );
    assert.match(
      (await refusal(() => read(gzipSync(tar), "application/zip"))).message,
      /send it as application\/gzip/,
    );
    const zip = craftZip([{ name: "a/b", data: Buffer.from("x") }]);
    const error = await refusal(() => read(zip));
    assert.equal(error.code, "archive_invalid");
    assert.match(error.message, /send it as application\/zip/);
    assert.match(
      (await refusal(() => read(gzipSync(Buffer.from("no tar inside"))))).message,
      /multiple of 512|ustar/,
    );
  });

  test("concatenated gzip members read as one stream", async () => {
    const two = Buffer.concat([gzipSync(tar.subarray(0, 1024)), gzipSync(tar.subarray(1024))]);
    assert.equal((await read(two)).length, 1);
  });

  test("a damaged trailer, header CRC, truncation or trailing bytes are archive_invalid", async () => {
    const gz = gzipSync(tar);
    const badCrc = Buffer.from(gz);
    badCrc[gz.length - 8] ^= 1;
    const badLength = Buffer.from(gz);
    badLength[gz.length - 1] ^= 1;
    // FHCRC set with a wrong CRC-16 after the 10-byte header.
    const header = Buffer.from(gz.subarray(0, 10));
    header[3] |= 0x02;
    const withHcrc = Buffer.concat([
      header,
      Buffer.from([(crc32(header) & 0xff) ^ 1, (crc32(header) >> 8) & 0xff]),
      gz.subarray(10),
    ]);
    const reserved = Buffer.from(gz);
    reserved[3] |= 0x80;
    for (const [what, bytes, message] of [
      ["CRC-32", badCrc, /CRC-32 fails/],
      ["length", badLength, /length disagrees/],
      ["header CRC", withHcrc, /header CRC fails/],
      ["reserved flags", reserved, /reserved/],
      ["truncated", gz.subarray(0, gz.length - 20), /unexpected end|truncated/],
      ["no trailer", gz.subarray(0, gz.length - 4), /truncated/],
      ["trailing junk", Buffer.concat([gz, Buffer.from("junk")]), /after the end/],
      ["trailing zeros", Buffer.concat([gz, Buffer.alloc(16)]), /after the end/],
    ] as const) {
      const error = await refusal(() => read(bytes as Buffer));
      assert.equal(error.code, "archive_invalid", `${what}: ${error.message}`);
      assert.match(error.message, message, what);
    }
  });

  test("a gzip bomb (200 MB of zeros in a tar entry) is archive_bomb at the ratio cap, not inflated whole", async () => {
    const bombBytes = 200 * 1000 * 1000;
    // Compressed as a stream, so that the test never holds the 200 MB either.
    const gzip = createGzip({ level: constants.Z_BEST_COMPRESSION });
    const chunks: Buffer[] = [];
    gzip.on("data", (chunk: Buffer) => chunks.push(chunk));
    const done = new Promise((resolve) => gzip.on("end", resolve));
    gzip.write(tarHeader({ name: "cat/zeros.png", declaredSize: bombBytes }));
    const zeros = Buffer.alloc(1 << 20);
    for (let written = 0; written < bombBytes + 1024; written += zeros.length) {
      if (!gzip.write(zeros)) await new Promise((resolve) => gzip.once("drain", resolve));
    }
    gzip.end();
    await done;
    const bomb = Buffer.concat(chunks);
    assert.ok(bomb.length < 1 << 20, `${bomb.length} compressed bytes`);
    const before = process.memoryUsage().arrayBuffers;
    // Total-bytes room well above the ratio cap, so that the ratio is what stops it.
    const error = await refusal(() =>
      readArchive(bomb, "application/gzip", { ...LIMITS, maxTotalBytes: 64 << 20 }),
    );
    assert.equal(error.code, "archive_bomb");
    assert.equal(error.status, 413);
    const cap = bomb.length * LIMITS.maxRatio;
    assert.match(error.message, new RegExp(`inflates past ${cap} bytes, a ratio above 50`));
    assert.ok(cap < bombBytes / 10);
    // Buffers still held after the refusal are bounded by the cap, far from 200 MB.
    assert.ok(process.memoryUsage().arrayBuffers - before < 4 * cap);
    // Under a generous ratio the total-bytes cap stops it instead.
    const generous = await refusal(() => readArchive(bomb, "application/gzip", { ...LIMITS, maxRatio: 1e6 }));
    assert.equal(generous.code, "archive_bomb");
    const sizeCap = LIMITS.maxTotalBytes + LIMITS.maxEntries * 4096 + (1 << 20);
    assert.equal(generous.message, `the gzip stream inflates past ${sizeCap} bytes`);
  });
});

describe("tar reader: damaged input never escapes as anything but an ApiError", () => {
  test("3000 seeded flips, byte rewrites and truncations of a pax tar.gz and its tar", async () => {
    const tar = craftTar([
      { name: "P/x", type: "x", data: paxData({ path: `cat/${LONG_FILE}`, mtime: "1.5" }) },
      { name: "ignored", data: Buffer.from("long name") },
      { name: "././@LongLink", type: "L", magic: "gnu", data: Buffer.from(`dog/${LONG_FILE}\0`) },
      { name: "x", magic: "gnu", data: Buffer.alloc(700, 3), base256: true },
      { name: "dog", type: "5" },
    ]);
    assert.deepEqual(
      readTar(tar, LIMITS).map((e) => [e.name, e.bytes.length]),
      [
        [`cat/${LONG_FILE}`, 9],
        [`dog/${LONG_FILE}`, 700],
        ["dog/", 0],
      ],
    );
    const gz = gzipSync(tar);
    let seed = 12345;
    const next = (n: number) => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed % n;
    };
    const unexpected: string[] = [];
    for (let i = 0; i < 3000; i++) {
      const source = i % 2 === 0 ? tar : gz;
      let damaged = Buffer.from(source);
      const how = next(3);
      if (how === 0) damaged[next(damaged.length)] ^= 1 << next(8);
      else if (how === 1) damaged[next(damaged.length)] = next(256);
      else damaged = damaged.subarray(0, next(damaged.length));
      try {
        await readArchive(damaged, "application/x-tar", LIMITS);
      } catch (error) {
        if (!(error instanceof ApiError)) unexpected.push(`${i}: ${error}`);
      }
    }
    assert.deepEqual(unexpected, []);
  });
});
