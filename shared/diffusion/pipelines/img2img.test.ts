import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type DiffusionModel, loadDiffusionModel } from "../models/index.js";
import { maxAbsDiff, type TempModel, tempTinyModel, testImage } from "../testing/fixtures.js";
import { drawTargetClass, img2img, interClassImg2Img } from "./index.js";

describe("SDEdit img2img", () => {
  const folders: TempModel[] = [];
  const models: Record<string, DiffusionModel> = {};
  before(async () => {
    for (const layout of ["legacy", "optimum"] as const) {
      const folder = await tempTinyModel({ layout });
      folders.push(folder);
      models[layout] = await loadDiffusionModel(folder.dir);
    }
  });
  after(async () => {
    for (const m of Object.values(models)) await m.release();
    for (const f of folders) await f.remove();
  });

  it("returns the input image exactly when strength leaves no step", async () => {
    const image = testImage(32, 1);
    for (const strength of [0, 0.05]) {
      const [out] = await img2img(
        models.optimum,
        [{ image, prompt: "a photo of a cat", seed: 1, index: 0, label: 2 }],
        {
          steps: 10,
          strength,
        },
      );
      assert.deepEqual(out.image, image);
      assert.notEqual(out.image.data, image.data, "a copy, not the caller's buffer");
      assert.equal(out.strength, strength);
      assert.equal(out.label, 2);
    }
  });

  it("runs ⌊steps·strength⌋ steps from the noised image latent, with the right shapes in both layouts", async () => {
    for (const [layout, size] of [
      ["legacy", 64],
      ["optimum", 32],
    ] as const) {
      const image = testImage(size, 2);
      let steps = 0;
      const [low] = await img2img(
        models[layout],
        [{ image, prompt: "a photo of a dog", seed: 3, index: 0 }],
        {
          steps: 10,
          strength: 0.3,
          onProgress: () => steps++,
        },
      );
      assert.equal(steps, 3);
      assert.deepEqual([low.image.channels, low.image.height, low.image.width], [3, size, size]);
      const [high] = await img2img(
        models[layout],
        [{ image, prompt: "a photo of a dog", seed: 3, index: 0 }],
        {
          steps: 10,
          strength: 1,
        },
      );
      assert.ok(low.image.data.every((v) => v >= 0 && v <= 1));
      assert.ok(maxAbsDiff(low.image.data, high.image.data) > 1e-3);
    }
  });

  it("accepts grayscale sources (repeated to the VAE's three channels)", async () => {
    const gray = testImage(32, 4, 1);
    const rgb = {
      ...gray,
      channels: 3,
      data: new Float32Array(3 * 32 * 32).map((_, i) => gray.data[i % (32 * 32)]),
    };
    const request = { prompt: "a photo of a cat", seed: 9, index: 1 };
    const [a] = await img2img(models.optimum, [{ ...request, image: gray }], { steps: 4, strength: 0.5 });
    const [b] = await img2img(models.optimum, [{ ...request, image: rgb }], { steps: 4, strength: 0.5 });
    assert.deepEqual(a.image, b.image);
  });

  it("gives a sample the same image alone and inside a batch of 8", async (t) => {
    const requests = Array.from({ length: 8 }, (_, i) => ({
      image: testImage(32, i),
      prompt: i % 2 ? "a photo of a cat" : "a photo of a bird",
      seed: 11,
      index: i,
    }));
    const options = { steps: 10, strength: 0.7 };
    const batch = await img2img(models.optimum, requests, options);
    let worst = 0;
    for (const i of [0, 5, 7]) {
      const [alone] = await img2img(models.optimum, [requests[i]], options);
      worst = Math.max(worst, maxAbsDiff(alone.image.data, batch[i].image.data));
    }
    t.diagnostic(`img2img: max |alone − in batch of 8| = ${worst.toExponential(2)}`);
    assert.ok(worst <= 1e-5, `${worst}`);
  });

  it("inter-class: labels the source class, the target class and the strength", async () => {
    const [out] = await interClassImg2Img(
      models.optimum,
      [
        {
          image: testImage(32, 5),
          sourceLabel: 1,
          targetLabel: 4,
          prompt: "a photo of a bird",
          seed: 2,
          index: 7,
        },
      ],
      { steps: 10, strength: 0.5 },
    );
    assert.equal(out.label, 1);
    assert.equal(out.targetLabel, 4);
    assert.equal(out.strength, 0.5);
    assert.equal(out.prompt, "a photo of a bird");
  });

  it("draws Diff-Mix target classes uniformly (source included), per sample", () => {
    const counts = new Array(5).fill(0);
    for (let index = 0; index < 5000; index++) counts[drawTargetClass({ seed: 3, index }, 5)]++;
    for (const c of counts) assert.ok(Math.abs(c - 1000) < 120, `${counts}`);
    assert.equal(drawTargetClass({ seed: 3, index: 17 }, 5), drawTargetClass({ seed: 3, index: 17 }, 5));
  });
});
