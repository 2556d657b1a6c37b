/**
 * The zip and tar writers against independent readers: Info-ZIP's `unzip -t`, GNU tar and Python's
 * zipfile/tarfile. ZIP64 is checked both where it is needed (70,000 entries, past the classic 65,535)
 * and forced on a small archive (the offsets-in-extra-field path that archives past 4 GiB take).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { tarToBuffer, writeTar } from "./tar-writer.js";
import { zipToBuffer } from "./zip-writer.js";

const PYTHON_ZIP = `
import json, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    names = z.namelist()
    bad = z.testzip()
    probe = {n: z.read(n).decode() for n in sys.argv[2:]}
print(json.dumps({"count": len(names), "bad": bad, "probe": probe}))
`;

const PYTHON_TAR = `
import json, sys, tarfile
with tarfile.open(sys.argv[1]) as t:
    out = [{"name": m.name, "size": m.size, "text": t.extractfile(m).read().decode()} for m in t.getmembers()]
print(json.dumps(out))
`;

describe("archive writers read back by independent tools", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "diffda-archives-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function file(name: string, bytes: Buffer): Promise<string> {
    const path = join(dir, name);
    await writeFile(path, bytes);
    return path;
  }

  test("a 70,000-entry zip switches to ZIP64 and unzip and Python read every entry", async () => {
    const n = 70_000;
    const sources = Array.from({ length: n }, (_, i) => ({
      name: `images/${String(i).padStart(6, "0")}.txt`,
      read: async () => Buffer.from(`entry ${i}`),
    }));
    const zip = await zipToBuffer(sources);
    assert.ok(zip.includes(Buffer.from([0x50, 0x4b, 0x06, 0x06])), "a ZIP64 end of central directory record");
    const path = await file("many.zip", zip);
    const unzip = execFileSync("unzip", ["-tq", path], { encoding: "utf8" });
    assert.match(unzip, /No errors detected/);
    const python = JSON.parse(
      execFileSync("python3", ["-c", PYTHON_ZIP, path, "images/000000.txt", "images/069999.txt"], {
        encoding: "utf8",
      }),
    );
    assert.deepEqual(python, {
      count: n,
      bad: null,
      probe: { "images/000000.txt": "entry 0", "images/069999.txt": "entry 69999" },
    });
  });

  test("forced ZIP64 (offsets in the extra field) reads the same; a small zip stays classic", async () => {
    const sources = [
      { name: "a.txt", read: async () => Buffer.from("alpha") },
      { name: "dir/b.txt", read: async () => Buffer.from("") },
      { name: "dir/ü.txt", read: async () => Buffer.from("unicode name") },
    ];
    const forced = await file("forced.zip", await zipToBuffer(sources, { forceZip64: true }));
    assert.match(execFileSync("unzip", ["-tq", forced], { encoding: "utf8" }), /No errors detected/);
    const python = JSON.parse(
      execFileSync("python3", ["-c", PYTHON_ZIP, forced, "a.txt", "dir/ü.txt"], { encoding: "utf8" }),
    );
    assert.deepEqual(python, {
      count: 3,
      bad: null,
      probe: { "a.txt": "alpha", "dir/ü.txt": "unicode name" },
    });
    const classic = await zipToBuffer(sources);
    assert.ok(
      !classic.includes(Buffer.from([0x50, 0x4b, 0x06, 0x06])),
      "no ZIP64 record when none is needed",
    );
    const same = await zipToBuffer(sources);
    assert.ok(classic.equals(same), "the same content gives the same bytes");
  });

  test("tar: Python's tarfile and GNU tar read names (long ones via the ustar prefix) and contents", async () => {
    const long = `${"d".repeat(120)}/${"f".repeat(90)}.png`;
    const tar = await tarToBuffer([
      { name: "a.cls", read: async () => Buffer.from("3") },
      { name: long, read: async () => Buffer.from("x".repeat(1000)) },
      { name: "empty.json", read: async () => Buffer.alloc(0) },
    ]);
    assert.equal(tar.length % 512, 0);
    const path = await file("set.tar", tar);
    const members = JSON.parse(execFileSync("python3", ["-c", PYTHON_TAR, path], { encoding: "utf8" }));
    assert.deepEqual(
      members.map((m: { name: string; size: number }) => [m.name, m.size]),
      [
        ["a.cls", 1],
        [long, 1000],
        ["empty.json", 0],
      ],
    );
    assert.equal(members[0].text, "3");
    const listing = execFileSync("tar", ["-tf", path], { encoding: "utf8" }).trim().split("\n");
    assert.deepEqual(listing, ["a.cls", long, "empty.json"]);
  });

  test("tar: a streamed entry must match its declared size; names that cannot fit are refused", async () => {
    const wrong = writeTar([
      {
        name: "inner.tar",
        size: 10,
        chunks: async function* () {
          yield Buffer.from("short");
        },
      },
    ]);
    await assert.rejects(async () => {
      for await (const _ of wrong);
    }, /5 bytes, declared 10/);
    await assert.rejects(
      tarToBuffer([{ name: "x".repeat(101), read: async () => Buffer.alloc(0) }]),
      /too long/,
    );
  });
});
