import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { instructPix2PixGuidance } from "../latents/index.js";
import { fractalBlend, halfConcat, randomOrientation } from "../mixing/index.js";
import { type DiffusionModel, loadDiffusionModel } from "../models/index.js";
import { maxAbsDiff, type TempModel, tempTinyModel, testImage } from "../testing/fixtures.js";
import {
  concatChannels,
  DIFFUSEMIX_PROMPTS,
  diffuseMix,
  diffuseMixImage,
  drawDiffuseMixPrompt,
  encodeImages,
  encodePrompts,
  instructPix2Pix,
  instructPix2PixPredictor,
  rows,
  textToImage,
} from "./index.js";

describe("InstructPix2Pix and DiffuseMix", () => {
  const folders: TempModel[] = [];
  let model: DiffusionModel;
  let plain: DiffusionModel;
  before(async () => {
    const ip2p = await tempTinyModel({ layout: "optimum", instructPix2Pix: true });
    const sd = await tempTinyModel({ layout: "legacy" });
    folders.push(ip2p, sd);
    model = await loadDiffusionModel(ip2p.dir);
    plain = await loadDiffusionModel(sd.dir);
  });
  after(async () => {
    await model.release();
    await plain.release();
    for (const f of folders) await f.remove();
  });

  it("loads an 8-channel UNet and refuses a 4-channel one", async () => {
    assert.equal(model.config.unetInChannels, 8);
    await assert.rejects(
      instructPix2Pix(plain, [{ image: testImage(64, 1), instruction: "make it snowy", seed: 1, index: 0 }]),
      /needs a UNet taking 8 channels/,
    );
    await assert.rejects(
      textToImage(model, [{ prompt: "a cat", seed: 1, index: 0 }], { steps: 2 }),
      /takes 8 channels/,
    );
  });

  it("batches [text; image; uncond] so the guidance matches three separate UNet runs", async () => {
    const image = testImage(32, 2);
    const { latents: imageLatents } = await encodeImages(model, [image], { kind: "mean" }, { scaled: false });
    const texts = await encodePrompts(model, ["make it snowy", ""]);
    const prompt = rows(texts, 0, 1);
    const negative = rows(texts, 1, 2);
    const dims = { batch: 1, channels: 4, height: 8, width: 8 };
    const x = Float32Array.from({ length: 4 * 64 }, (_, i) => Math.sin(i / 3));
    const states = {
      data: new Float32Array([...prompt.data, ...negative.data, ...negative.data]),
      dims: [3, 16, 16],
    };
    const guided = await instructPix2PixPredictor(model, dims, states, imageLatents, {
      guided: true,
      guidanceScale: 4,
      imageGuidanceScale: 1.5,
    })(x, 500);
    const run = (states: typeof prompt, latents: Float32Array) =>
      model.unet.predict(concatChannels(x, latents, 1, 64), { ...dims, channels: 8 }, 500, states);
    const text = await run(prompt, imageLatents);
    const imageOnly = await run(negative, imageLatents);
    const uncond = await run(negative, new Float32Array(imageLatents.length));
    const expected = instructPix2PixGuidance(text, imageOnly, uncond, 4, 1.5);
    assert.ok(maxAbsDiff(guided, expected) <= 1e-5, `${maxAbsDiff(guided, expected)}`);
  });

  it("edits with Euler ancestral: right shape, seeded, the same alone and inside a batch of 8", async (t) => {
    const requests = Array.from({ length: 8 }, (_, i) => ({
      image: testImage(32, i),
      instruction: drawDiffuseMixPrompt({ seed: 5, index: i }),
      seed: 5,
      index: i,
    }));
    const options = { steps: 6 };
    const batch = await instructPix2Pix(model, requests, options);
    assert.deepEqual([batch[0].image.channels, batch[0].image.height, batch[0].image.width], [3, 32, 32]);
    assert.ok(batch.every((g) => g.image.data.every((v) => v >= 0 && v <= 1)));
    let worst = 0;
    for (const i of [1, 7]) {
      const [alone] = await instructPix2Pix(model, [requests[i]], options);
      worst = Math.max(worst, maxAbsDiff(alone.image.data, batch[i].image.data));
    }
    t.diagnostic(`InstructPix2Pix: max |alone − in batch of 8| = ${worst.toExponential(2)}`);
    assert.ok(worst <= 1e-5);
    const [noGuidance] = await instructPix2Pix(model, [requests[1]], { ...options, guidanceScale: 1 });
    assert.ok(maxAbsDiff(noGuidance.image.data, batch[1].image.data) > 1e-4);
  });

  it("DiffuseMix: half-concatenates the edit with the original and blends a fractal, per sample", async () => {
    const fractals = [testImage(32, 40), testImage(32, 41)];
    const request = { image: testImage(32, 3), instruction: DIFFUSEMIX_PROMPTS[1], seed: 2, index: 3 };
    const [edited] = await instructPix2Pix(model, [request], { steps: 4, guidanceScale: 4 });
    const [mixed] = await diffuseMix(model, [request], { steps: 4, fractals });
    const key = { seed: 2, index: 3 };
    assert.deepEqual(mixed.image, diffuseMixImage(request.image, edited.image, key, { fractals }));
    const concatenated = halfConcat(request.image, edited.image, randomOrientation(key), 20);
    const candidates = fractals.map((f) => fractalBlend(concatenated, f, 0.2));
    assert.ok(
      candidates.some((c) => maxAbsDiff(c.data, mixed.image.data) === 0),
      "concat then fractal blend",
    );
    // Fractals of another size or grayscale are fitted to the image.
    const fitted = diffuseMixImage(request.image, edited.image, key, { fractals: [testImage(16, 5, 1)] });
    assert.deepEqual([fitted.channels, fitted.height, fitted.width], [3, 32, 32]);
    assert.ok(DIFFUSEMIX_PROMPTS.includes(drawDiffuseMixPrompt(key)));
  });
});
