/**
 * The synthetic-set downloads over a generation-only job on fake compute, unpacked and read the way a
 * trainer's loader reads them, by Python's standard library: imagefolder's metadata.jsonl beside the
 * class folders, WebDataset shards grouped by key, the zip's manifest.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { idemKey } from "../test-support.js";
import { type ComputeGateway, startComputeGateway } from "../testing/compute-gateway.js";

/** Reads an imagefolder zip as `datasets`' imagefolder builder would: metadata rows joined to files. */
const READ_IMAGEFOLDER = `
import json, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    names = set(z.namelist())
    rows = [json.loads(line) for line in z.read("train/metadata.jsonl").decode().splitlines()]
    out = []
    for row in rows:
        path = "train/" + row["file_name"]
        assert path in names, path
        assert z.read(path)[:8] == b"\\x89PNG\\r\\n\\x1a\\n", path
        assert row["file_name"].split("/")[0] == row["class_name"], row
        out.append(row)
print(json.dumps({"files": len(names), "rows": out}))
`;

/** Groups WebDataset samples by key (the name up to its first dot), shard by shard. */
const READ_WEBDATASET = `
import io, json, sys, tarfile
def samples(tar):
    by_key = {}
    for m in tar.getmembers():
        key, ext = m.name.split(".", 1)
        by_key.setdefault(key, {})[ext] = tar.extractfile(m).read()
    return by_key
with tarfile.open(sys.argv[1]) as outer:
    names = outer.getnames()
    if all(n.endswith(".tar") for n in names):
        shards = [samples(tarfile.open(fileobj=io.BytesIO(outer.extractfile(n).read()))) for n in names]
    else:
        names, shards = [], [samples(outer)]
out = []
for shard in shards:
    keys = []
    for key, parts in shard.items():
        assert sorted(parts) == ["cls", "json", "png"], (key, sorted(parts))
        meta = json.loads(parts["json"])
        assert int(parts["cls"]) == meta["label"], key
        assert parts["png"][:4] == b"\\x89PNG", key
        keys.append(key)
    out.append(keys)
print(json.dumps({"names": names, "shards": out}))
`;

describe("synthetic-set exports: zip, imagefolder, webdataset", () => {
  let stack: ComputeGateway;
  let dir: string;
  let jobId: string;
  let trainFiles: string[];

  before(async () => {
    stack = await startComputeGateway({ app: () => ({ authMode: "loopback-open" }) });
    dir = await mkdtemp(join(tmpdir(), "diffda-exports-"));
    const { app } = stack.gw;
    const dataset = await app.inject({
      method: "POST",
      url: "/v1/datasets",
      headers: { "idempotency-key": idemKey() },
      payload: { builtin: "fashion-mnist", shots: 2 },
    });
    assert.equal(dataset.statusCode, 201, dataset.body);
    const files = await app.inject({
      method: "GET",
      url: `/v1/datasets/${dataset.json().id}/files?split=train`,
    });
    trainFiles = files.json().items.map((f: { name: string }) => f.name);
    const submitted = await app.inject({
      method: "POST",
      url: "/v1/jobs",
      headers: { "idempotency-key": idemKey() },
      payload: {
        datasetId: dataset.json().id,
        kind: "generate",
        methods: [{ preset: "diff-mix" }, { preset: "real-guidance" }],
        seeds: [0],
      },
    });
    assert.equal(submitted.statusCode, 201, submitted.body);
    jobId = submitted.json().id;
    const job = await stack.waitFinal(jobId);
    assert.equal(job.state, "succeeded", JSON.stringify(job.error));
  });

  after(async () => {
    await stack?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function download(query: string) {
    return stack.gw.app.inject({ method: "GET", url: `/v1/jobs/${jobId}/synthetic${query}` });
  }

  async function saved(name: string, bytes: Buffer): Promise<string> {
    const path = join(dir, name);
    await writeFile(path, bytes);
    return path;
  }

  test("zip: every image and a manifest with soft labels, sources, strengths and the model", async () => {
    const res = await download(".zip");
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers["content-type"], "application/zip");
    const path = await saved("set.zip", res.rawPayload);
    const manifest = JSON.parse(execFileSync("unzip", ["-p", path, "manifest.json"], { encoding: "utf8" }));
    assert.deepEqual(manifest.classes, ["shoe", "bag"]);
    assert.equal(manifest.images.length, 40, "4 real × 5 per real × 2 methods");
    const listing = execFileSync("unzip", ["-Z1", path], { encoding: "utf8" }).trim().split("\n");
    assert.equal(listing.length, 41);
    for (const image of manifest.images) {
      assert.ok(listing.includes(image.file), image.file);
      assert.equal(image.model, "tiny-sd");
      assert.equal(image.sourceFile, trainFiles[image.sourceIndex]);
      if (image.method === "diff-mix") {
        assert.ok(image.interClass, "Diff-Mix images are inter-class");
        assert.ok(Math.abs(image.softLabel.reduce((a: number, b: number) => a + b, 0) - 1) < 1e-9);
        assert.ok(Math.abs(image.softLabel[image.label] - image.interClass.strength ** 0.5) < 1e-6);
        assert.equal(image.strength, image.interClass.strength);
      } else {
        assert.equal(image.softLabel, null, "real-guidance trains on one-hot labels");
        assert.equal(typeof image.strength, "number");
      }
    }
    // The same address with format=zip gives the same bytes.
    const again = await download("?format=zip");
    assert.ok(again.rawPayload.equals(res.rawPayload));
  });

  test("imagefolder: metadata.jsonl rows match class folders, labels and files", async () => {
    const res = await download("?format=imagefolder&method=diff-mix");
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers["content-disposition"]), /imagefolder\.zip/);
    const path = await saved("imagefolder.zip", res.rawPayload);
    const read = JSON.parse(execFileSync("python3", ["-c", READ_IMAGEFOLDER, path], { encoding: "utf8" }));
    assert.equal(read.rows.length, 20);
    assert.equal(read.files, 21);
    for (const row of read.rows) {
      assert.equal(row.method, "diff-mix");
      assert.equal(row.class_name, ["shoe", "bag"][row.label]);
      assert.equal(row.soft_label.length, 2);
      assert.equal(row.source_file, trainFiles[row.source_index]);
      assert.equal(row.model, "tiny-sd");
      assert.match(row.sha256, /^[0-9a-f]{64}$/);
    }
  });

  test("webdataset: a tar of shards, each sample png + cls + json under one key; one shard alone", async () => {
    const all = await download("?format=webdataset&shardSize=16");
    assert.equal(all.statusCode, 200);
    assert.equal(all.headers["content-type"], "application/x-tar");
    const path = await saved("wds.tar", all.rawPayload);
    const read = JSON.parse(execFileSync("python3", ["-c", READ_WEBDATASET, path], { encoding: "utf8" }));
    assert.deepEqual(read.names, ["synthetic-000000.tar", "synthetic-000001.tar", "synthetic-000002.tar"]);
    assert.deepEqual(
      read.shards.map((keys: string[]) => keys.length),
      [16, 16, 8],
    );
    assert.equal(new Set(read.shards.flat()).size, 40, "keys are unique");
    const one = await download("?format=webdataset&shardSize=16&shard=1");
    assert.equal(one.statusCode, 200);
    const single = JSON.parse(
      execFileSync("python3", ["-c", READ_WEBDATASET, await saved("shard1.tar", one.rawPayload)], {
        encoding: "utf8",
      }),
    );
    assert.deepEqual(single.shards, [read.shards[1]]);
  });

  test("a 70,000-image set downloads as one valid ZIP64 archive (unzip -t, Python's zipfile)", async () => {
    // 70,000 stored images of one seed, as rows pointing at one real PNG: the archive, not the
    // generation, is what is under test, and 70,000 shards over fake compute would take minutes.
    const [one] = await stack.store.artifacts.list(jobId, { prefix: "synthetic/real-guidance/", limit: 1 });
    await stack.store.db.query(
      `insert into artifacts (job_id, key, kind, sha256, bytes, path, meta)
       select $1, 'synthetic/real-guidance/seed=9/' || lpad((i / 1000)::text, 5, '0') || '/' || lpad(i::text, 7, '0'),
              'synthetic_image', $2, $3, $4,
              jsonb_build_object('mediaType', 'image/png', 'method', 'real-guidance', 'seed', 9,
                'shardIndex', i / 1000, 'sampleIndex', i, 'label', i % 2,
                'className', case when i % 2 = 0 then 'shoe' else 'bag' end,
                'sourceIndex', 0, 'prompt', 'a photo of a shoe', 'interClass', null)
         from generate_series(0, 69999) as i`,
      [jobId, one.sha256, one.bytes, one.path],
    );
    const res = await download(".zip?method=real-guidance&seed=9");
    assert.equal(res.statusCode, 200);
    const path = await saved("seventy-thousand.zip", res.rawPayload);
    assert.match(execFileSync("unzip", ["-tq", path], { encoding: "utf8" }), /No errors detected/);
    const counted = execFileSync(
      "python3",
      [
        "-c",
        "import json,sys,zipfile; z=zipfile.ZipFile(sys.argv[1]); m=json.loads(z.read('manifest.json')); print(len(z.namelist()), len(m['images']), z.testzip())",
        path,
      ],
      { encoding: "utf8" },
    );
    assert.equal(counted.trim(), "70001 70000 None");
  });

  test("bad export requests are 4xx problems", async () => {
    const cases: [string, number, string][] = [
      ["?format=parquet", 400, "validation_failed"],
      ["?format=zip&shard=0", 400, "validation_failed"],
      ["?format=webdataset&shardSize=0", 400, "validation_failed"],
      ["?format=webdataset&shardSize=16&shard=3&method=diff-mix", 404, "not_found"],
      ["?seed=0", 400, "validation_failed"],
    ];
    for (const [query, status, code] of cases) {
      const res = await download(query);
      assert.equal(res.statusCode, status, `${query}: ${res.body}`);
      assert.equal(res.headers["content-type"], "application/problem+json; charset=utf-8");
      assert.equal(res.json().code, code, query);
    }
  });
});
