/**
 * `npm run bench:kit`: measures the bundled kit and writes bench/results/model-kit.json plus sample grids
 * beside the model cards. (a) recognition of text-to-image samples by a classifier trained on real data,
 * per class, seen and held-out; (b) CLIP zero-shot accuracy on the test split of seen classes; (c) edit
 * model: each instruction moves its pixel statistic the right way and toward the exact edit, class kept;
 * (d) sample grids; (e) text-to-image throughput at batch 32.
 */
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { availableParallelism, cpus } from "node:os";
import { join } from "node:path";
import { createImageSet, renderGrid } from "../../shared/data/index.js";
import { loadDiffusionModel } from "../../shared/diffusion/models/index.js";
import { textToImage as pipelineTextToImage } from "../../shared/diffusion/pipelines/index.js";
import { buildCorpus, classPrompt, KIT_CLASSES } from "../../shared/kit/corpus.js";
import { applyEdit, KIT_EDITS } from "../../shared/kit/edits.js";
import { f32 } from "../../shared/ml/onnx/index.js";
import { createSession, runSession } from "../../shared/ml/runtime/index.js";
import { Rng } from "../../shared/random/index.js";
import { log, writeJson } from "./lib/common.js";
import { EDIT_DIR, EVAL_DIR, KIT_DIR } from "./lib/config.js";
import { editImages, loadKit, releaseKit, textToImage } from "./lib/sample.js";
import { zeroShot } from "./lib/zero-shot.js";

const IMG = 3 * 32 * 32;
const PER_CLASS = Number(process.env.KIT_BENCH_PER_CLASS ?? 32);
const GUIDANCE = Number(process.env.KIT_BENCH_GUIDANCE ?? 7.5);
const STEPS = 25;

async function classify(
  session: Awaited<ReturnType<typeof createSession>>,
  images: Float32Array,
  n: number,
): Promise<number[]> {
  const x = f32([n, 3, 32, 32]);
  (x.data as Float32Array).set(images);
  const logits = (await runSession(session, { pixel_values: x })).logits.data as Float32Array;
  return Array.from({ length: n }, (_, k) => {
    let best = 0;
    for (let c = 1; c < 20; c++) if (logits[k * 20 + c] > logits[k * 20 + best]) best = c;
    return best;
  });
}

const round = (v: number, d = 4) => Number(v.toFixed(d));

function statistic(edit: string, x: Float32Array): number {
  const P = 1024;
  let s = 0;
  switch (edit) {
    case "sketch":
    case "invert":
    case "sunset":
      for (const v of x) s += v;
      return s / x.length;
    case "blur": {
      for (let c = 0; c < 3; c++)
        for (let y = 1; y < 31; y++)
          for (let i = 1; i < 31; i++) {
            const p = c * P + y * 32 + i;
            const lap = 4 * x[p] - x[p - 1] - x[p + 1] - x[p - 32] - x[p + 32];
            s += lap * lap;
          }
      return s / (3 * 900);
    }
    case "mosaic": {
      for (let c = 0; c < 3; c++)
        for (let by = 0; by < 32; by += 4)
          for (let bx = 0; bx < 32; bx += 4) {
            let m = 0;
            for (let y = 0; y < 4; y++) for (let i = 0; i < 4; i++) m += x[c * P + (by + y) * 32 + bx + i];
            m /= 16;
            for (let y = 0; y < 4; y++)
              for (let i = 0; i < 4; i++) s += (x[c * P + (by + y) * 32 + bx + i] - m) ** 2;
          }
      return s / x.length;
    }
    case "emboss":
      for (const v of x) s += Math.abs(v - 0.5);
      return s / x.length;
    case "snow":
      for (let p = 0; p < P; p++) if (x[p] > 0.85 && x[P + p] > 0.85 && x[2 * P + p] > 0.85) s++;
      return s / P;
    case "autumn":
      for (let p = 0; p < P; p++) s += x[p] - x[2 * P + p];
      return s / P;
    default:
      throw new Error(edit);
  }
}
/** Whether the instruction must raise (+1) or lower (−1) its statistic. */
const DIRECTION: Record<string, number> = {
  sketch: 1,
  invert: 1,
  sunset: 1,
  blur: -1,
  mosaic: -1,
  emboss: -1,
  snow: 1,
  autumn: 1,
};
const STAT_NAME: Record<string, string> = {
  sketch: "mean brightness (white paper)",
  invert: "mean brightness",
  sunset: "mean brightness (sky)",
  blur: "high-frequency energy (mean squared Laplacian)",
  mosaic: "variance inside 4×4 blocks",
  emboss: "mean |x − 0.5|",
  snow: "fraction of white pixels",
  autumn: "mean R − B",
};

async function main(): Promise<void> {
  const results: Record<string, unknown> = {
    machine: {
      cpus: cpus()[0]?.model,
      cores: availableParallelism(),
      note: "shared with other jobs while measured",
    },
    date: new Date().toISOString(),
  };
  const classifier = await createSession(await readFile(join(EVAL_DIR, "classifier.onnx")));
  const clsInfo = JSON.parse(await readFile(join(EVAL_DIR, "classifier.json"), "utf8"));
  results.classifier = {
    path: join(EVAL_DIR, "classifier.onnx"),
    test_accuracy: clsInfo.test_accuracy,
    test_accuracy_per_class: clsInfo.test_accuracy_per_class,
  };

  // (a) + (d) + (e)
  const kit = await loadKit(KIT_DIR);
  const perClass: Record<string, { prompt: string; recognised: number; held_out: boolean }> = {};
  const all = new Float32Array(KIT_CLASSES.length * PER_CLASS * IMG);
  const labels = new Int32Array(KIT_CLASSES.length * PER_CLASS);
  const rates: number[] = [];
  for (const c of KIT_CLASSES) {
    const prompt = classPrompt(c);
    const t0 = performance.now();
    const images = await textToImage(kit, new Array(PER_CLASS).fill(prompt), {
      guidance: GUIDANCE,
      steps: STEPS,
      seed: 1000 + c.id,
    });
    rates.push(PER_CLASS / ((performance.now() - t0) / 1000));
    all.set(images, c.id * PER_CLASS * IMG);
    labels.fill(c.id, c.id * PER_CLASS, (c.id + 1) * PER_CLASS);
    const predicted = await classify(classifier, images, PER_CLASS);
    const rate = predicted.filter((p) => p === c.id).length / PER_CLASS;
    perClass[c.name] = { prompt, recognised: round(rate), held_out: c.heldOut };
    log("bench", `${prompt}: ${(rate * 100).toFixed(1)}% recognised`);
  }
  const seen = KIT_CLASSES.filter((c) => !c.heldOut).map((c) => perClass[c.name].recognised);
  const held = KIT_CLASSES.filter((c) => c.heldOut).map((c) => perClass[c.name].recognised);
  results.recognition = {
    samples_per_class: PER_CLASS,
    scheduler: "DPMSolverMultistep (dpmsolver++, order 2) from the SD1.5 config",
    steps: STEPS,
    guidance_scale: GUIDANCE,
    seen_mean: round(seen.reduce((a, b) => a + b, 0) / seen.length),
    seen_min: round(Math.min(...seen)),
    held_out_mean: round(held.reduce((a, b) => a + b, 0) / held.length),
    goal: "seen ≥ 0.85",
    per_class: perClass,
  };
  const sorted = [...rates].sort((a, b) => a - b);
  results.throughput = {
    batch: PER_CLASS,
    steps: STEPS,
    cfg: true,
    images_per_second_median: round(sorted[Math.floor(sorted.length / 2)], 1),
    images_per_second_best: round(sorted[sorted.length - 1], 1),
    goal: "≥ 50 images/s at batch 32",
  };
  // UNet call at batch 64.
  {
    const feeds = {
      sample: f32([64, 4, 8, 8]),
      timestep: { ...f32([64]), data: new Float32Array(64).fill(500) },
      encoder_hidden_states: f32([64, 16, 64]),
    };
    for (let i = 0; i < 3; i++) await runSession(kit.unet, feeds, ["out_sample"]);
    const times: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t0 = performance.now();
      await runSession(kit.unet, feeds, ["out_sample"]);
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    (results.throughput as Record<string, unknown>).unet_ms_batch64_median = round(times[10], 1);
  }
  const names = KIT_CLASSES.map((c) => c.name);
  const grid = await renderGrid(
    createImageSet({ channels: 3, height: 32, width: 32, images: all, labels, classNames: names }),
    { perClass: 8, scale: 2 },
  );
  await writeFile(join(KIT_DIR, "samples.png"), grid);
  await releaseKit(kit);

  // The same check through the service's loader and text-to-image pipeline (shared/diffusion).
  try {
    const model = await loadDiffusionModel(KIT_DIR);
    const seenClasses = KIT_CLASSES.filter((c) => !c.heldOut);
    const requests = Array.from({ length: PER_CLASS }, (_, i) => ({
      seed: 4242,
      index: i,
      prompt: classPrompt(seenClasses[i % seenClasses.length]),
      label: seenClasses[i % seenClasses.length].id,
    }));
    await pipelineTextToImage(model, requests.slice(0, 2), { steps: STEPS, guidanceScale: GUIDANCE });
    const times: number[] = [];
    let out: Awaited<ReturnType<typeof pipelineTextToImage>> = [];
    for (let r = 0; r < 3; r++) {
      const t0 = performance.now();
      out = await pipelineTextToImage(model, requests, { steps: STEPS, guidanceScale: GUIDANCE });
      times.push(PER_CLASS / ((performance.now() - t0) / 1000));
    }
    const images = new Float32Array(out.length * IMG);
    out.forEach((g, k) => {
      images.set(g.image.data, k * IMG);
    });
    const predicted = await classify(classifier, images, out.length);
    const ok = predicted.filter((p, k) => p === requests[k].label).length / out.length;
    times.sort((a, b) => a - b);
    results.service_pipeline = {
      loader: "shared/diffusion loadDiffusionModel + pipelines.textToImage (DPM-Solver++ default)",
      batch: PER_CLASS,
      steps: STEPS,
      guidance_scale: GUIDANCE,
      images_per_second_runs: times.map((t) => round(t, 1)),
      recognised_seen_mixed_prompts: round(ok),
    };
    log("bench", `service pipeline ${JSON.stringify(results.service_pipeline)}`);
  } catch (error) {
    results.service_pipeline = { error: String(error) };
    log("bench", `service pipeline failed: ${error}`);
  }

  // (b)
  results.clip_zero_shot = {
    split: "test, seen classes",
    prompts: "a photo of a {class}",
    accuracy: round(await zeroShot(100_000)),
  };
  log("bench", `CLIP zero-shot ${JSON.stringify(results.clip_zero_shot)}`);

  // (c)
  if (existsSync(join(EDIT_DIR, "unet", "model.onnx"))) {
    const edit = await loadKit(EDIT_DIR);
    const test = await buildCorpus("test");
    const rng = new Rng(99);
    const pool: number[] = [];
    for (let i = 0; i < test.count; i++) if (!KIT_CLASSES[test.classes[i]].heldOut) pool.push(i);
    const n = Number(process.env.KIT_BENCH_EDITS ?? 32);
    const idx = Array.from({ length: n }, () => pool[rng.nextInt(pool.length)]);
    const sources = new Float32Array(n * IMG);
    idx.forEach((i, k) => {
      sources.set(test.images.subarray(i * IMG, (i + 1) * IMG), k * IMG);
    });
    const gridImages: Float32Array[] = [];
    const show = Math.min(6, n);
    for (let k = 0; k < show; k++) gridImages.push(sources.slice(k * IMG, (k + 1) * IMG));
    const perEdit: Record<string, unknown> = {};
    for (const e of KIT_EDITS) {
      const instruction = e.instructions[0];
      const out = await editImages(edit, sources, new Array(n).fill(instruction), {
        guidance: 4,
        imageGuidance: 1.5,
        steps: STEPS,
        seed: 7,
      });
      const predicted = await classify(classifier, out, n);
      const targets = new Float32Array(n * IMG);
      let moved = 0;
      let closer = 0;
      let statSrc = 0;
      let statOut = 0;
      let statTarget = 0;
      for (let k = 0; k < n; k++) {
        const src = sources.subarray(k * IMG, (k + 1) * IMG);
        const o = out.subarray(k * IMG, (k + 1) * IMG);
        const t = applyEdit(e.name, src, k);
        targets.set(t, k * IMG);
        const [a, b, c] = [statistic(e.name, src), statistic(e.name, o), statistic(e.name, t)];
        statSrc += a / n;
        statOut += b / n;
        statTarget += c / n;
        if ((b - a) * DIRECTION[e.name] > 0) moved++;
        let dOut = 0;
        let dSrc = 0;
        for (let p = 0; p < IMG; p++) {
          dOut += (o[p] - t[p]) ** 2;
          dSrc += (src[p] - t[p]) ** 2;
        }
        if (dOut < dSrc) closer++;
      }
      const refPredicted = await classify(classifier, targets, n);
      const kept = predicted.filter((p, k) => p === test.classes[idx[k]]).length / n;
      const refKept = refPredicted.filter((p, k) => p === test.classes[idx[k]]).length / n;
      perEdit[e.name] = {
        instruction,
        statistic: STAT_NAME[e.name],
        direction: DIRECTION[e.name] > 0 ? "up" : "down",
        stat_source_mean: round(statSrc),
        stat_output_mean: round(statOut),
        stat_exact_edit_mean: round(statTarget),
        moved_right_way: round(moved / n),
        closer_to_exact_edit_than_source: round(closer / n),
        class_kept: round(kept),
        class_kept_exact_edit_reference: round(refKept),
      };
      log("bench", `edit ${e.name}: ${JSON.stringify(perEdit[e.name])}`);
      for (let k = 0; k < show; k++) gridImages.push(out.slice(k * IMG, (k + 1) * IMG));
    }
    results.edit = {
      images: n,
      source: "test split, seen classes",
      guidance_scale: 4,
      image_guidance_scale: 1.5,
      steps: STEPS,
      scheduler: "DPMSolverMultistep",
      per_edit: perEdit,
    };
    // Grid: first row the sources, then one row per edit.
    const images = new Float32Array(gridImages.length * IMG);
    gridImages.forEach((g, k) => {
      images.set(g, k * IMG);
    });
    const gl = new Int32Array(gridImages.length).map((_, k) => Math.floor(k / show));
    const editGrid = await renderGrid(
      createImageSet({
        channels: 3,
        height: 32,
        width: 32,
        images,
        labels: gl,
        classNames: ["source", ...KIT_EDITS.map((e) => e.name)],
      }),
      { perClass: show, scale: 2 },
    );
    await writeFile(join(EDIT_DIR, "edits.png"), editGrid);
    await releaseKit(edit);
  }
  await classifier.release();
  await mkdir("bench/results", { recursive: true });
  await writeJson(process.env.KIT_BENCH_OUT ?? join("bench", "results", "model-kit.json"), results);
  log("bench", `wrote ${process.env.KIT_BENCH_OUT ?? "bench/results/model-kit.json"}`);
}

await main();
