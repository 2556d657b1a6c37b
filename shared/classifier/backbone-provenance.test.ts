/**
 * The committed backbone never saw a benchmark task's images or classes: its pretraining set is
 * regenerated from the manifest's generator and seed, must match the manifest's digest, and must share no
 * image digest and no class name with any built-in task dataset (fashion-mnist: the seen and novel tasks;
 * textures: the ood task), train or test split.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import {
  digestOfDigests,
  imageDigests,
  loadBuiltinDataset,
  loadTintedDigits,
  TINTED_DIGITS_GENERATOR,
} from "../data/index.js";
import { BACKBONE_MANIFEST, BACKBONES_DIR, type BackboneManifest } from "./backbone.js";
import { BACKBONES } from "./backbones.js";

/** The built-in datasets the benchmark's tasks draw from (bench/grid/grid.json), every class of each. */
const TASK_DATASETS = ["fashion-mnist", "textures"] as const;

for (const id of Object.keys(BACKBONES)) {
  describe(`backbone ${id}: pretraining provenance`, async () => {
    const folder = join(BACKBONES_DIR, id);
    const manifest = JSON.parse(await readFile(join(folder, BACKBONE_MANIFEST), "utf8")) as BackboneManifest;
    const p = manifest.pretraining;

    it("the weights are the manifest's", async () => {
      const bytes = await readFile(join(folder, manifest.weights.file));
      assert.equal(bytes.length, manifest.weights.bytes);
      assert.equal(createHash("sha256").update(bytes).digest("hex"), manifest.weights.sha256);
      assert.ok(bytes.length < 5 * 1024 * 1024, "small enough to commit");
    });

    it("regenerates from its generator and seed to the manifest's digest", async () => {
      assert.equal(p.generator, TINTED_DIGITS_GENERATOR, "the generator at this version");
      const set = await loadTintedDigits(p.source.split, { seed: p.seed, views: p.views, size: p.size });
      assert.equal(set.labels.length, p.images);
      assert.deepEqual(set.classNames, p.classNames);
      assert.equal(set.sourceVersion, p.source.version);
      assert.equal(digestOfDigests(imageDigests(set.sourcePixels, set.sourceImageBytes)), p.source.digest);
      assert.equal(digestOfDigests(imageDigests(set.pixels, 3 * p.size * p.size)), p.digest);
      // Another seed is another set: the digest pins the seed, not only the source.
      const other = await loadTintedDigits(p.source.split, { seed: p.seed + 1, views: 1, size: p.size });
      assert.notEqual(digestOfDigests(imageDigests(other.pixels, 3 * p.size * p.size)), p.digest);
    });

    it("holds no image and no class of any task dataset, train or test", async () => {
      const set = await loadTintedDigits(p.source.split, { seed: p.seed, views: p.views, size: p.size });
      const seen = new Set([
        ...imageDigests(set.pixels, 3 * p.size * p.size),
        ...imageDigests(set.sourcePixels, set.sourceImageBytes),
      ]);
      for (const name of TASK_DATASETS) {
        const task = await loadBuiltinDataset(name);
        const digests = imageDigests(task.pixels, task.channels * task.height * task.width);
        assert.equal(digests.length, task.train.length + task.test.length, `${name}: both splits`);
        const shared = digests.filter((d) => seen.has(d));
        assert.deepEqual(shared, [], `${name}: images in the pretraining set`);
        const classes = task.classNames.filter((c) => p.classNames.includes(c));
        assert.deepEqual(classes, [], `${name}: classes in the pretraining set`);
      }
      // The check can fail: the source's own images are found (its held-out split is not).
      const mnist = await loadBuiltinDataset("mnist");
      const size = mnist.height * mnist.width;
      const at = (i: number) => imageDigests(mnist.pixels.subarray(i * size, (i + 1) * size), size)[0];
      assert.ok(seen.has(at(mnist.train[0])));
      assert.ok(!seen.has(at(mnist.test[0])));
    });
  });
}
