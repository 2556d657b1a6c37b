import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { toModel } from "../../ml/graph/model.js";
import { Rng } from "../../random/index.js";
import { type DiffusionModel, loadDiffusionModel } from "../models/index.js";
import { maxAbsDiff, type TempModel, tempTinyModel, testImage } from "../testing/fixtures.js";
import { tinyImageEncoder } from "../testing/tiny-models.js";
import {
  type ClipScorer,
  drawGifPrompt,
  GIF_DOMAINS,
  GifScoringModel,
  gif,
  groupMeanMatrix,
  img2img,
  img2imgLatents,
} from "./index.js";

describe("GIF: CLIP-guided channel perturbation", () => {
  let folder: TempModel;
  let model: DiffusionModel;
  let scoring: GifScoringModel;
  const rng = new Rng(12, 0);
  const scorer: ClipScorer = {
    imageEncoder: toModel(tinyImageEncoder(16, 8).graph),
    imageSize: 16,
    numClasses: 3,
    classEmbeddings: Float32Array.from({ length: 3 * 8 }, () => rng.nextNormal()),
    logitScale: 20,
  };
  const requests = Array.from({ length: 8 }, (_, i) => ({
    image: testImage(32, i),
    prompt: drawGifPrompt({ seed: 3, index: i }, "bird"),
    seed: 3,
    index: i,
  }));
  const options = { steps: 10, strength: 0.5 };
  before(async () => {
    folder = await tempTinyModel({ layout: "optimum" });
    model = await loadDiffusionModel(folder.dir);
    scoring = new GifScoringModel(model, scorer);
  });
  after(async () => {
    await scoring.release();
    await model.release();
    await folder.remove();
  });

  it("differentiates the objective through the VAE decoder and the image encoder (vs finite differences)", async (t) => {
    const { latents, dims } = await img2imgLatents(model, requests.slice(0, 2), options);
    const targets = { classes: [0, 2], baseEntropy: Float32Array.of(0.3, 0.5), groups: ["a", "a"] };
    const { gradient, objective } = await scoring.score(latents, dims, targets, true);
    assert.ok(gradient && gradient.length === latents.length);
    const total = async (x: Float32Array) => {
      const s = await scoring.score(x, dims, targets, false);
      return s.objective.reduce((a, b) => a + b, 0);
    };
    assert.ok(Math.abs((await total(latents)) - (objective[0] + objective[1])) < 1e-5);
    let worst = 0;
    const h = 1e-2;
    for (const i of [0, 37, 100, 255, 300, 511]) {
      const plus = latents.slice();
      const minus = latents.slice();
      plus[i] += h;
      minus[i] -= h;
      const numeric = ((await total(plus)) - (await total(minus))) / (2 * h);
      const error =
        Math.abs(numeric - gradient[i]) / Math.max(1e-3, Math.abs(numeric), Math.abs(gradient[i]));
      worst = Math.max(worst, error);
    }
    t.diagnostic(
      `GIF gradient vs central differences (h = 1e-2, 6 coordinates): worst relative error ${worst.toExponential(2)}`,
    );
    assert.ok(worst < 0.05, `${worst}`);
  });

  it("perturbs img2img latents within the ε-ball and decodes them", async () => {
    const out = await gif(model, requests.slice(0, 3), { ...options, scoring });
    for (const g of out) {
      assert.deepEqual([g.image.channels, g.image.height, g.image.width], [3, 32, 32]);
      assert.ok(g.scorerClass >= 0 && g.scorerClass < 3);
      assert.equal(g.strength, 0.5);
      assert.ok(Number.isFinite(g.objective.initial) && Number.isFinite(g.objective.guided));
    }
    // ε = 0 projects back onto the img2img latents: the plain img2img image.
    const exact = await gif(model, requests.slice(0, 3), { ...options, scoring, epsilon: 0 });
    const plain = await img2img(model, requests.slice(0, 3), options);
    for (let i = 0; i < 3; i++) assert.ok(maxAbsDiff(exact[i].image.data, plain[i].image.data) <= 1e-6);
    assert.ok(maxAbsDiff(out[0].image.data, plain[0].image.data) > 1e-4, "ε = 0.8 leaves room to move");
  });

  it("raises the objective with the sign-gradient step on most samples", async (t) => {
    const out = await gif(model, requests, { ...options, scoring, stepSize: 0.02 });
    const better = out.filter((g) => g.objective.guided > g.objective.initial).length;
    t.diagnostic(`objective raised on ${better}/8 samples (step 0.02)`);
    assert.ok(better >= 6, `${better}`);
  });

  it("gives a sample the same image alone and inside a batch of 8 (own diversity groups)", async (t) => {
    const batch = await gif(model, requests, { ...options, scoring });
    let worst = 0;
    for (const i of [0, 5]) {
      const [alone] = await gif(model, [requests[i]], { ...options, scoring });
      worst = Math.max(worst, maxAbsDiff(alone.image.data, batch[i].image.data));
    }
    t.diagnostic(`GIF: max |alone − in batch of 8| = ${worst.toExponential(2)}`);
    assert.ok(worst <= 1e-5);
  });

  it("averages diversity within groups and draws GIF prompts", () => {
    assert.deepEqual([...groupMeanMatrix(["a", "b", "a"])], [0.5, 0, 0.5, 0, 1, 0, 0.5, 0, 0.5]);
    const prompt = drawGifPrompt({ seed: 1, index: 2 }, "bird");
    assert.ok(GIF_DOMAINS.some((d) => prompt.startsWith(d)) && prompt.endsWith("bird"));
  });
});
