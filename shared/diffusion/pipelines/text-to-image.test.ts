import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { decodePng } from "../../data/index.js";
import { type DiffusionModel, loadDiffusionModel } from "../models/index.js";
import { DDIMScheduler, EulerAncestralDiscreteScheduler } from "../schedulers/index.js";
import { maxAbsDiff, type TempModel, tempTinyModel } from "../testing/fixtures.js";
import { type StepProgress, textToImage, toPng } from "./index.js";

const PROMPTS = ["a photo of a cat", "a photo of a dog", "a photo of a bird", "a photo of a car"];

describe("text-to-image", () => {
  const folders: TempModel[] = [];
  const models: Record<string, DiffusionModel> = {};
  before(async () => {
    for (const [name, options] of [
      ["legacy", { layout: "legacy" }],
      ["optimum", { layout: "optimum" }],
      ["fp16", { layout: "optimum", fp16Unet: true }],
    ] as const) {
      const folder = await tempTinyModel(options);
      folders.push(folder);
      models[name] = await loadDiffusionModel(folder.dir);
    }
  });
  after(async () => {
    for (const m of Object.values(models)) await m.release();
    for (const f of folders) await f.remove();
  });

  it("generates CHW images in [0, 1] of the requested size in both layouts", async (t) => {
    for (const [name, size] of [
      ["legacy", 64],
      ["optimum", 32],
    ] as const) {
      const started = performance.now();
      const out = await textToImage(
        models[name],
        [
          { prompt: "a photo of a cat", seed: 1, index: 0, label: 3 },
          { prompt: "a photo of a dog", seed: 1, index: 1, label: "dog" },
        ],
        { steps: 10, height: size, width: size },
      );
      t.diagnostic(
        `${name}: 2 images, 10 DPM-Solver++ steps in ${(performance.now() - started).toFixed(0)} ms`,
      );
      assert.equal(out.length, 2);
      for (const g of out) {
        assert.deepEqual([g.image.channels, g.image.height, g.image.width], [3, size, size]);
        assert.ok(g.image.data.every((v) => v >= 0 && v <= 1 && Number.isFinite(v)));
      }
      assert.deepEqual(
        out.map((g) => g.label),
        [3, "dog"],
      );
      assert.deepEqual(out[1].key, { seed: 1, index: 1 });
      assert.ok(maxAbsDiff(out[0].image.data, out[1].image.data) > 1e-3, "different samples differ");
      const png = await decodePng(await toPng(out[0]));
      assert.deepEqual([png.width, png.height], [size, size]);
    }
  });

  it("gives a sample the same image alone and inside a batch of 8 (every scheduler kind)", async (t) => {
    const requests = Array.from({ length: 8 }, (_, i) => ({ prompt: PROMPTS[i % 4], seed: 42, index: i }));
    for (const [name, scheduler] of [
      ["DPM-Solver++", undefined],
      ["DDIM η=0", DDIMScheduler.fromConfig(models.optimum.schedulerConfig)],
      ["Euler ancestral", EulerAncestralDiscreteScheduler.fromConfig(models.optimum.schedulerConfig)],
    ] as const) {
      const options = { steps: 8, scheduler };
      const batch = await textToImage(models.optimum, requests, options);
      let worst = 0;
      for (const i of [0, 3, 7]) {
        const [alone] = await textToImage(models.optimum, [requests[i]], options);
        worst = Math.max(worst, maxAbsDiff(alone.image.data, batch[i].image.data));
      }
      t.diagnostic(`${name}: max |alone − in batch of 8| = ${worst.toExponential(2)}`);
      assert.ok(worst <= 1e-5, `${name}: ${worst}`);
    }
  });

  it("reproduces the same seed exactly and changes with the seed, the prompt and the guidance", async () => {
    const run = (seed: number, prompt: string, guidanceScale?: number) =>
      textToImage(models.optimum, [{ prompt, seed, index: 0 }], { steps: 6, guidanceScale }).then(
        (r) => r[0].image.data,
      );
    const base = await run(7, PROMPTS[0]);
    assert.deepEqual(await run(7, PROMPTS[0]), base);
    assert.ok(maxAbsDiff(await run(8, PROMPTS[0]), base) > 1e-3);
    assert.ok(maxAbsDiff(await run(7, PROMPTS[1]), base) > 1e-4);
    assert.ok(maxAbsDiff(await run(7, PROMPTS[0], 1), base) > 1e-4);
  });

  it("runs a float16 UNet (close to the float32 one without guidance's amplification)", async (t) => {
    const request = [{ prompt: PROMPTS[0], seed: 3, index: 0 }];
    const options = { steps: 5, guidanceScale: 1 };
    const [half] = await textToImage(models.fp16, request, options);
    const [full] = await textToImage(models.optimum, request, options);
    assert.deepEqual([half.image.channels, half.image.height, half.image.width], [3, 32, 32]);
    const diff = maxAbsDiff(half.image.data, full.image.data);
    const mean =
      half.image.data.reduce((s, v, i) => s + Math.abs(v - full.image.data[i]), 0) / half.image.data.length;
    t.diagnostic(
      `fp16 vs fp32 UNet, CFG 1, 5 steps: image diff max ${diff.toExponential(2)}, mean ${mean.toExponential(2)}`,
    );
    assert.ok(diff > 0 && diff < 0.01, `fp16 vs fp32 image: max ${diff}, mean ${mean}`);
  });

  it("reports progress per step and stops between steps when aborted", async () => {
    const seen: StepProgress[] = [];
    await textToImage(models.optimum, [{ prompt: PROMPTS[0], seed: 1, index: 0 }], {
      steps: 5,
      onProgress: (p) => seen.push(p),
    });
    assert.deepEqual(
      seen.map((p) => p.step),
      [1, 2, 3, 4, 5],
    );
    assert.ok(seen.every((p) => p.totalSteps === 5 && p.stage === "denoise"));
    const controller = new AbortController();
    let steps = 0;
    await assert.rejects(
      textToImage(models.optimum, [{ prompt: PROMPTS[0], seed: 1, index: 0 }], {
        steps: 20,
        signal: controller.signal,
        onProgress: () => {
          if (++steps === 2) controller.abort(new Error("client went away"));
        },
      }),
      /client went away/,
    );
    assert.equal(steps, 2);
  });
});
