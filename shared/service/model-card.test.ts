import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, test } from "node:test";
import { cardSummary, describeModel, folderDigest } from "./model-card.js";

const KIT = resolve(import.meta.dirname, "../../models/diffda-kit-v1");

describe("model descriptions", () => {
  test("the folder digest is what sha256sum over the sorted file list prints", async () => {
    const shell = execFileSync(
      "bash",
      [
        "-c",
        "cd \"$1\" && find . -type f | LC_ALL=C sort | sed 's|^\\./||' | xargs sha256sum | sha256sum",
        "_",
        KIT,
      ],
      { encoding: "utf8" },
    ).split(" ")[0];
    const digest = await folderDigest(KIT);
    assert.equal(digest.sha256, shell);
    assert.ok(digest.bytes > 1_000_000, `${digest.bytes} bytes`);
  });

  test("a changed byte changes the digest; the same bytes elsewhere give the same digest", async () => {
    const dir = await mkdtemp(join(tmpdir(), "diffda-card-"));
    try {
      await writeFile(join(dir, "model_index.json"), '{"_class_name": "OnnxStableDiffusionPipeline"}');
      await writeFile(join(dir, "README.md"), "# m\n\nA model.\n");
      const first = await folderDigest(dir);
      const other = await mkdtemp(join(tmpdir(), "diffda-card-"));
      await writeFile(join(other, "model_index.json"), '{"_class_name": "OnnxStableDiffusionPipeline"}');
      await writeFile(join(other, "README.md"), "# m\n\nA model.\n");
      assert.equal((await folderDigest(other)).sha256, first.sha256);
      await writeFile(join(other, "README.md"), "# m\n\nA model!\n");
      assert.notEqual((await folderDigest(other)).sha256, first.sha256);
      await rm(other, { recursive: true, force: true });
      // No config.json anywhere: the SD 1.x size, as diffusers' ONNX pipeline assumes.
      const described = await describeModel({ id: "m", dir });
      assert.deepEqual(
        [described.nativeHeight, described.nativeWidth, described.summary],
        [512, 512, "A model."],
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("the kit's description: native 32×32 from its configs, the pipeline class, the card's first paragraph", async () => {
    const kit = await describeModel({ id: "diffda-kit-v1", dir: KIT });
    assert.deepEqual([kit.nativeHeight, kit.nativeWidth], [32, 32]);
    assert.equal(kit.pipeline, "OnnxStableDiffusionPipeline");
    assert.match(kit.summary, /^A tiny latent text-to-image diffusion model/);
    assert.match(kit.card, /^# diffda-kit-v1/);
  });

  test("the summary skips headings, images and tables", () => {
    assert.equal(
      cardSummary("# Title\n\n![x](y.png)\n\n| a | b |\n\nFirst  real\nparagraph.\n\nSecond."),
      "First real paragraph.",
    );
    assert.equal(cardSummary(""), "");
  });
});
