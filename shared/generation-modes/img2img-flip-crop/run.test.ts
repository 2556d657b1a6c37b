/**
 * The flip-crop mode: the geometric draws per sample (a fake plan context), and real images from the
 * bundled kit through the mode's runner.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  type DiffusionModel,
  loadDiffusionModel,
  MemoryInversionCache,
  toPng,
} from "../../diffusion/index.js";
import { testImage } from "../../diffusion/testing/fixtures.js";
import type { RunSample, SizedImage } from "../runtime.js";
import { flipHorizontal } from "../transforms.js";
import { flipCrop, img2imgFlipCropRunner } from "./run.js";

const SOURCE: SizedImage = { image: testImage(32, 3), height: 32, width: 32 };
const resolved = (o: { minCropScale?: number; horizontalFlip?: boolean } = {}) =>
  img2imgFlipCropRunner.resolve(
    { strength: 0.5, ...o },
    {},
    { resolveModel: () => assert.fail() },
  ) as Parameters<typeof flipCrop>[1];

describe("img2img_flip_crop", () => {
  it("defaults to a mild crop with the flip on", () => {
    assert.deepEqual(resolved(), { strength: 0.5, minCropScale: 0.75, horizontalFlip: true });
  });

  it("keeps the output size, draws per sample, and repeats for the same sample", () => {
    const r = resolved();
    const views = Array.from({ length: 8 }, (_, index) => flipCrop(SOURCE, r, { seed: 5, index }));
    for (const v of views)
      assert.deepEqual([v.image.height, v.image.width, v.image.data.length], [32, 32, 3072]);
    assert.deepEqual(flipCrop(SOURCE, r, { seed: 5, index: 3 }).image.data, views[3].image.data);
    const distinct = new Set(views.map((v) => createHash("sha256").update(v.image.data).digest("hex")));
    assert.ok(distinct.size >= 6, `${distinct.size} distinct views of 8`);
    assert.ok(
      views.every((v) => v.image.data.some((x, i) => x !== SOURCE.image.data[i])),
      "every view changed",
    );
  });

  it("with the crop and the flip off is the source itself; the flip alone mirrors it", () => {
    const none = flipCrop(SOURCE, resolved({ minCropScale: 1, horizontalFlip: false }), {
      seed: 1,
      index: 0,
    });
    assert.equal(none.image, SOURCE.image);
    const mirrored = flipHorizontal(SOURCE.image).data;
    const flips = Array.from(
      { length: 16 },
      (_, index) => flipCrop(SOURCE, resolved({ minCropScale: 1 }), { seed: 1, index }).image.data,
    );
    const flipped = flips.filter((d) => d.every((x, i) => x === mirrored[i])).length;
    const kept = flips.filter((d) => d.every((x, i) => x === SOURCE.image.data[i])).length;
    assert.equal(flipped + kept, 16);
    assert.ok(flipped > 0 && kept > 0, `${flipped} flipped, ${kept} kept`);
  });

  describe("on the bundled kit", () => {
    let model: DiffusionModel;
    before(async () => {
      model = await loadDiffusionModel(join(import.meta.dirname, "../../../models/diffda-kit-v1"));
    });
    after(() => model?.release());

    it("repaints the flipped, cropped view with the class prompt, reproducibly", async () => {
      const r = resolved();
      const samples: RunSample[] = [0, 1].map((index) => ({
        index,
        seed: 9,
        prompt: "a photo of a sneaker",
        label: 0,
        sourceLabel: 0,
        image: flipCrop(SOURCE, r, { seed: 9, index }).image,
      }));
      const run = () =>
        img2imgFlipCropRunner.run(
          model,
          samples,
          { strength: 0.5 },
          {
            sampling: { steps: 4, guidanceScale: 3 },
            inversionCache: new MemoryInversionCache(1),
            scoring: () => assert.fail("no scoring"),
          },
        );
      const images = await run();
      assert.equal(images.length, 2);
      for (const [i, g] of images.entries()) {
        assert.deepEqual([g.image.channels, g.image.height, g.image.width], [3, 32, 32]);
        assert.ok(
          g.image.data.some((x, k) => Math.abs(x - (samples[i].image?.data[k] ?? 0)) > 1e-3),
          "edited",
        );
      }
      const again = await run();
      assert.deepEqual(
        await Promise.all(again.map((g) => toPng(g))),
        await Promise.all(images.map((g) => toPng(g))),
      );
    });
  });
});
