import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type DiffusionModel, loadDiffusionModel } from "../models/index.js";
import { DDIMScheduler } from "../schedulers/index.js";
import { maxAbsDiff, type TempModel, tempTinyModel, testImage } from "../testing/fixtures.js";
import {
  DIFF_II_DEFAULTS,
  denoise,
  diffII,
  drawSuffixes,
  encodeGuidedPrompts,
  encodeImages,
  guidedPredictor,
  invertImages,
  MemoryInversionCache,
} from "./index.js";

const PROMPT = "a photo of a bird";

describe("Diff-II: DDIM inversion, circle interpolation, two-stage prompts", () => {
  let folder: TempModel;
  let model: DiffusionModel;
  before(async () => {
    folder = await tempTinyModel({ layout: "optimum" });
    model = await loadDiffusionModel(folder.dir);
  });
  after(async () => {
    await model.release();
    await folder.remove();
  });

  it("inverts then denoises back to the image latent at CFG 1 (error shrinks with more steps)", async (t) => {
    const images = [testImage(32, 1), testImage(32, 2)];
    const clean = await encodeImages(model, images, { kind: "mean" });
    const dims = { batch: 2, channels: 4, height: clean.height, width: clean.width };
    const conditioning = await encodeGuidedPrompts(model, [PROMPT, PROMPT], [], 1);
    const errors: Record<number, number> = {};
    for (const steps of [10, 50, 200]) {
      const inverted = await invertImages(
        model,
        images.map((image) => ({ image, prompt: PROMPT })),
        { steps },
      );
      const start = new Float32Array([...inverted[0].latent, ...inverted[1].latent]);
      const moved = maxAbsDiff(start, clean.latents);
      const back = await denoise({
        plan: DDIMScheduler.fromConfig(model.schedulerConfig).setTimesteps(steps),
        latents: start,
        keys: [
          { seed: 0, index: 0 },
          { seed: 0, index: 1 },
        ],
        predict: guidedPredictor(model, dims, conditioning),
      });
      const scale = Math.max(...clean.latents.map(Math.abs));
      errors[steps] = maxAbsDiff(back, clean.latents);
      t.diagnostic(
        `${steps} steps: max |reconstruction − latent| = ${errors[steps].toExponential(2)}; max |x_T − latent| ${moved.toFixed(3)}, max |latent| ${scale.toFixed(3)}`,
      );
      if (steps === 200)
        assert.ok(moved > 20 * errors[steps], "inversion moves the latent far more than the error");
    }
    const scale = Math.max(...clean.latents.map(Math.abs));
    assert.ok(errors[200] < 0.05 * scale, `${errors[200]} vs latent scale ${scale}`);
    assert.ok(errors[200] < errors[50] && errors[50] < errors[10], JSON.stringify(errors));
  });

  it("caches inversions by image, prompt and steps", async () => {
    const cache = new MemoryInversionCache();
    const image = testImage(32, 3);
    let steps = 0;
    const run = (prompt: string, n: number) =>
      invertImages(model, [{ image, prompt }], { steps: n, cache, onProgress: () => steps++ });
    const [first] = await run(PROMPT, 20);
    assert.equal(steps, 20);
    const [again] = await run(PROMPT, 20);
    assert.equal(steps, 20, "a hit runs no step");
    assert.equal(again, first);
    await run("a photo of a cat", 20);
    await run(PROMPT, 10);
    assert.equal(steps, 50);
    assert.equal(cache.size, 3);
  });

  it("interpolates on the circle at the sample's angle and switches prompts at (1 − split)·T", async () => {
    const [z1, z2] = await invertImages(
      model,
      [1, 2].map((s) => ({ image: testImage(32, s), prompt: PROMPT })),
      { steps: 20 },
    );
    const base = {
      anchor: z1,
      partner: z2,
      prompt: PROMPT,
      suffixPrompt: `${PROMPT} standing on a tree branch.`,
      seed: 4,
      index: 0,
    };
    const options = { steps: 10 };
    const [mixed] = await diffII(model, [base], options);
    assert.deepEqual([mixed.image.channels, mixed.image.height, mixed.image.width], [3, 32, 32]);
    assert.ok(mixed.angle >= 0 && mixed.angle < 2 * Math.PI);
    const [plainOnly] = await diffII(model, [{ ...base, suffixPrompt: PROMPT }], options);
    const [suffixOnly] = await diffII(model, [{ ...base, prompt: base.suffixPrompt }], options);
    // split 0: threshold T, no step uses the suffix; split 1: threshold 0, every step does.
    assert.deepEqual((await diffII(model, [base], { ...options, splitRatio: 0 }))[0].image, plainOnly.image);
    assert.deepEqual((await diffII(model, [base], { ...options, splitRatio: 1 }))[0].image, suffixOnly.image);
    assert.ok(maxAbsDiff(mixed.image.data, plainOnly.image.data) > 1e-4);
    assert.ok(maxAbsDiff(mixed.image.data, suffixOnly.image.data) > 1e-4);
    assert.equal(DIFF_II_DEFAULTS.splitRatio, 0.3);
  });

  it("gives a sample the same image alone and inside a batch of 8", async (t) => {
    const latents = await invertImages(
      model,
      [1, 2, 3].map((s) => ({ image: testImage(32, s), prompt: PROMPT })),
      { steps: 10 },
    );
    const requests = Array.from({ length: 8 }, (_, i) => ({
      anchor: latents[i % 3],
      partner: latents[(i + 1) % 3],
      prompt: PROMPT,
      suffixPrompt: `${PROMPT} in the snow`,
      seed: 9,
      index: i,
    }));
    const batch = await diffII(model, requests, { steps: 8 });
    let worst = 0;
    for (const i of [0, 6]) {
      const [alone] = await diffII(model, [requests[i]], { steps: 8 });
      worst = Math.max(worst, maxAbsDiff(alone.image.data, batch[i].image.data));
    }
    t.diagnostic(`Diff-II: max |alone − in batch of 8| = ${worst.toExponential(2)}`);
    assert.ok(worst <= 1e-5);
  });

  it("draws distinct suffixes per anchor, reproducibly", () => {
    const suffixes = Array.from({ length: 10 }, (_, i) => `scene ${i}`);
    const drawn = drawSuffixes({ seed: 1, index: 4 }, suffixes, 5);
    assert.equal(new Set(drawn).size, 5);
    assert.deepEqual(drawSuffixes({ seed: 1, index: 4 }, suffixes, 5), drawn);
    assert.notDeepEqual(drawSuffixes({ seed: 1, index: 5 }, suffixes, 5), drawn);
    assert.throws(() => drawSuffixes({ seed: 1, index: 4 }, suffixes, 11), /without replacement/);
  });
});
