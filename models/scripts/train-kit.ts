import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { SD15_SCHEDULER_CONFIG } from "../../shared/diffusion/index.js";
import {
  allCaptions,
  buildCorpus,
  drawCaption,
  HELD_OUT_CLASSES,
  KIT_CLASSES,
  KIT_COLORS,
  KIT_MAX_LENGTH,
  type KitCorpus,
} from "../../shared/kit/corpus.js";
import { allInstructions, applyEdit, KIT_EDITS } from "../../shared/kit/edits.js";
import { buildKitTokenizer, kitTokenizer } from "../../shared/kit/tokenizer.js";
import { f32, type Tensor } from "../../shared/ml/onnx/index.js";
import { createSession, runSession } from "../../shared/ml/runtime/index.js";
import { Rng } from "../../shared/random/index.js";
import {
  exportOnnx,
  log,
  paramCount,
  readJson,
  stageTrainer,
  steps,
  trainLoop,
  writeJson,
  writeRunStats,
} from "./lib/common.js";
import { CACHE_DIR, EVAL_DIR, KIT_DIR, LATENT_SIZE, STATS_DIR, UNET } from "./lib/config.js";
import { trainEditStage } from "./lib/edit.js";
import {
  CLASSIFIER_CLASSES,
  classifierGraph,
  clipTextGraph,
  clipTrainGraph,
  clipVisionGraph,
  textEncoderGraph,
  unetGraph,
  vaeDecoderGraph,
  vaeEncoderGraph,
  vaeTrainGraph,
} from "./lib/graphs.js";
import {
  idsTensor,
  imageBatch,
  kitNoiseSchedule,
  loadLatents,
  loadTokenizerFiles,
  pick,
  textCache,
  trainCorpus,
} from "./lib/kit-data.js";
import { zeroShot } from "./lib/zero-shot.js";

const PLANE = 32 * 32;
const IMG = 3 * PLANE;
const LAT = 4 * LATENT_SIZE * LATENT_SIZE;

async function stageTokenizer(): Promise<void> {
  const files = buildKitTokenizer([...allCaptions(), ...allInstructions()]);
  const dir = join(KIT_DIR, "tokenizer");
  await writeJson(join(dir, "vocab.json"), files.vocab);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "merges.txt"), files.merges);
  await writeJson(join(dir, "tokenizer_config.json"), files.tokenizerConfig);
  await writeJson(join(dir, "special_tokens_map.json"), files.specialTokensMap);
  const tok = kitTokenizer(files);
  log(
    "tokenizer",
    `${Object.keys(files.vocab).length} tokens, ${files.merges.split("\n").length - 2} merges; "a photo of a sandal" → ${tok.tokenize("a photo of a sandal").join(" ")}`,
  );
}

async function stageClip(): Promise<void> {
  const corpus = await trainCorpus();
  const tok = kitTokenizer(await loadTokenizerFiles());
  const spec = { vocabSize: tok.size, eosTokenId: tok.eosTokenId };
  const graph = clipTrainGraph(spec);
  const total = steps("clip", 1500);
  const B = 64;
  const trainer = await stageTrainer(graph, total, {
    weightDecay: 0.01,
    peak: 1e-3,
    warmup: 100,
    min: 5e-5,
    clipNorm: 1,
  });
  log("clip", `${paramCount(graph)} parameters, ${total} steps at batch ${B}`);
  const { seconds, msPerStep } = await trainLoop({
    name: "clip",
    trainer,
    total,
    batch: (step) => {
      const rng = new Rng(101, step);
      const idx = pick(rng, B, corpus.count);
      const captions = idx.map((i) =>
        drawCaption(rng, KIT_CLASSES[corpus.classes[i]], KIT_COLORS[corpus.colors[i]].name),
      );
      const targets = f32([B, B]);
      const td = targets.data as Float32Array;
      for (let i = 0; i < B; i++) {
        let n = 0;
        for (let j = 0; j < B; j++) if (captions[j] === captions[i]) n++;
        for (let j = 0; j < B; j++) if (captions[j] === captions[i]) td[i * B + j] = 1 / n;
      }
      return {
        pixel_values: imageBatch(corpus, idx),
        input_ids: idsTensor(tok.encodeBatch(captions).inputIds, B),
        targets,
      };
    },
  });
  const params = trainer.modelParameters();
  await trainer.release();
  const logitScale = Math.exp((params.get("logit_scale") as Tensor).data[0] as number);
  const sizes = {
    text_encoder: await exportOnnx(
      join(KIT_DIR, "text_encoder", "model.onnx"),
      textEncoderGraph(spec),
      params,
    ),
    clip_text: await exportOnnx(join(KIT_DIR, "clip", "text_model.onnx"), clipTextGraph(spec), params),
    clip_vision: await exportOnnx(join(KIT_DIR, "clip", "vision_model.onnx"), clipVisionGraph(), params),
  };
  await writeJson(join(KIT_DIR, "clip", "config.json"), {
    model_type: "diffda-kit-clip",
    image_size: 32,
    pixel_range: [-1, 1],
    mean: [0.5, 0.5, 0.5],
    std: [0.5, 0.5, 0.5],
    zero_shot_prompt: "a photo of a {class}",
    embed_dim: 64,
    logit_scale: logitScale,
    text_model: "text_model.onnx (input_ids int32 [batch, 16] → text_embeds, L2-normalised)",
    vision_model:
      "vision_model.onnx (pixel_values [batch, 3, 32, 32] in [-1, 1] → image_embeds, L2-normalised)",
  });
  await writeJson(join(KIT_DIR, "text_encoder", "config.json"), {
    model_type: "diffda-kit-text",
    vocab_size: spec.vocabSize,
    max_position_embeddings: KIT_MAX_LENGTH,
    hidden_size: 64,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    eos_token_id: spec.eosTokenId,
    attention: "bidirectional (padding is <|endoftext|>)",
  });
  await writeJson(join(STATS_DIR, "clip.json"), {
    seconds,
    msPerStep,
    total,
    logitScale,
    params: paramCount(graph),
    sizes,
  });
  log(
    "clip",
    `done in ${(seconds / 60).toFixed(1)} min; logit scale ${logitScale.toFixed(2)}; zero-shot ${(await zeroShot()).toFixed(3)}`,
  );
}

async function stageVae(): Promise<void> {
  const corpus = await trainCorpus();
  const graph = vaeTrainGraph(1e-4);
  const total = steps("vae", 1200);
  const B = 32;
  const trainer = await stageTrainer(graph, total, {
    weightDecay: 0,
    peak: 1e-3,
    warmup: 100,
    min: 5e-5,
    clipNorm: 1,
  });
  log("vae", `${paramCount(graph)} parameters, ${total} steps at batch ${B}`);
  const { seconds, msPerStep } = await trainLoop({
    name: "vae",
    trainer,
    total,
    batch: (step) => {
      const rng = new Rng(202, step);
      const eps = f32([B, 4, LATENT_SIZE, LATENT_SIZE]);
      rng.fillNormal(eps.data as Float32Array);
      return { sample: imageBatch(corpus, pick(rng, B, corpus.count)), eps };
    },
  });
  const params = trainer.modelParameters();
  await trainer.release();
  const sizes = {
    vae_encoder: await exportOnnx(join(KIT_DIR, "vae_encoder", "model.onnx"), vaeEncoderGraph(), params),
    vae_decoder: await exportOnnx(join(KIT_DIR, "vae_decoder", "model.onnx"), vaeDecoderGraph(), params),
  };
  await writeJson(join(STATS_DIR, "vae.json"), {
    seconds,
    msPerStep,
    total,
    params: paramCount(graph),
    sizes,
  });
  log("vae", `done in ${(seconds / 60).toFixed(1)} min`);
}

/** Encodes the whole train corpus (posterior means), measures the latent std and writes the VAE config. */
async function stageLatents(): Promise<void> {
  const corpus = await trainCorpus();
  const enc = await createSession(await readFile(join(KIT_DIR, "vae_encoder", "model.onnx")));
  const dec = await createSession(await readFile(join(KIT_DIR, "vae_decoder", "model.onnx")));
  const latents = new Float32Array(corpus.count * LAT);
  let sum = 0;
  let sq = 0;
  let recon = 0;
  let reconN = 0;
  for (let s = 0; s < corpus.count; s += 256) {
    const idx = Array.from({ length: Math.min(256, corpus.count - s) }, (_, k) => s + k);
    const x = imageBatch(corpus, idx);
    const z = (await runSession(enc, { sample: x })).latent_sample;
    const zd = z.data as Float32Array;
    latents.set(zd, s * LAT);
    for (const v of zd) {
      sum += v;
      sq += v * v;
    }
    if (s % 8192 === 0) {
      const y = (await runSession(dec, { latent_sample: z })).sample.data as Float32Array;
      const xd = x.data as Float32Array;
      for (let p = 0; p < y.length; p++) recon += (Math.min(1, Math.max(-1, y[p])) - xd[p]) ** 2;
      reconN += y.length;
      log("latents", `${s}/${corpus.count}`);
    }
  }
  await enc.release();
  await dec.release();
  const n = latents.length;
  const mean = sum / n;
  const std = Math.sqrt(sq / n - mean * mean);
  const scalingFactor = 1 / std;
  await mkdir(CACHE_DIR, { recursive: true });
  await writeFile(join(CACHE_DIR, "latents.f32"), new Uint8Array(latents.buffer));
  const reconMse = recon / reconN;
  const vaeConfig = {
    _class_name: "AutoencoderKL",
    in_channels: 3,
    out_channels: 3,
    latent_channels: 4,
    sample_size: 32,
    block_out_channels: [16, 32, 64],
    scaling_factor: Number(scalingFactor.toPrecision(6)),
    encoder_output: "latent_sample = posterior mean (unscaled); multiply by scaling_factor for the UNet",
  };
  await writeJson(join(KIT_DIR, "vae_encoder", "config.json"), vaeConfig);
  await writeJson(join(KIT_DIR, "vae_decoder", "config.json"), vaeConfig);
  const stats = await readJson<Record<string, unknown>>(join(STATS_DIR, "vae.json"));
  await writeJson(join(STATS_DIR, "vae.json"), {
    ...stats,
    latentMean: mean,
    latentStd: std,
    scalingFactor,
    reconMseSigned: reconMse,
    reconPsnr: 10 * Math.log10(4 / reconMse),
  });
  log(
    "latents",
    `latent mean ${mean.toFixed(4)} std ${std.toFixed(4)} → scaling_factor ${scalingFactor.toFixed(4)}; reconstruction MSE ${reconMse.toFixed(5)} (PSNR ${(10 * Math.log10(4 / reconMse)).toFixed(2)} dB)`,
  );
}

/**
 * Digits are 12% of the corpus and their thin strokes are the hardest thing for the UNet to draw (session 1's
 * model, trained mostly uniformly, drew fashion well and digits badly), so each image of a UNet batch is a
 * digit with probability 0.4 and uniform over the corpus otherwise (≈47% digits; batches depend only on the
 * step, so a resumed run sees the same data).
 */
const DIGIT_SHARE = 0.4;

function pickWithDigits(rng: Rng, n: number, c: KitCorpus): number[] {
  let firstDigit = 0;
  while (firstDigit < c.count && KIT_CLASSES[c.classes[firstDigit]].dataset !== "mnist") firstDigit++;
  return Array.from({ length: n }, () =>
    rng.nextFloat() < DIGIT_SHARE ? firstDigit + rng.nextInt(c.count - firstDigit) : rng.nextInt(c.count),
  );
}

async function stageUnet(): Promise<void> {
  const corpus = await trainCorpus();
  const { latents, scale } = await loadLatents();
  const texts = await textCache(["", ...allCaptions()]);
  const schedule = kitNoiseSchedule();
  const graph = unetGraph(UNET, true);
  const total = steps("unet", 8000);
  const B = 64;
  const trainer = await stageTrainer(graph, total, {
    weightDecay: 0.01,
    peak: 1e-3,
    warmup: 200,
    min: 5e-5,
    clipNorm: 1,
  });
  log("unet", `${paramCount(graph)} parameters, ${total} steps at batch ${B}`);
  const ctxSize = KIT_MAX_LENGTH * 64;
  const { seconds, msPerStep } = await trainLoop({
    name: "unet",
    trainer,
    total,
    batch: (step) => {
      const rng = new Rng(303, step);
      const idx = pickWithDigits(rng, B, corpus);
      const sample = f32([B, 4, LATENT_SIZE, LATENT_SIZE]);
      const target = f32([B, 4, LATENT_SIZE, LATENT_SIZE]);
      const timestep = f32([B]);
      const ctx = f32([B, KIT_MAX_LENGTH, 64]);
      const sd = sample.data as Float32Array;
      const td = target.data as Float32Array;
      rng.fillNormal(td);
      idx.forEach((i, k) => {
        const t = rng.nextInt(1000);
        (timestep.data as Float32Array)[k] = t;
        const a = schedule.alphaCumprod(t);
        const sa = Math.sqrt(a);
        const sb = Math.sqrt(1 - a);
        for (let p = 0; p < LAT; p++)
          sd[k * LAT + p] = sa * latents[i * LAT + p] * scale + sb * td[k * LAT + p];
        const caption =
          rng.nextFloat() < 0.1
            ? ""
            : drawCaption(rng, KIT_CLASSES[corpus.classes[i]], KIT_COLORS[corpus.colors[i]].name);
        (ctx.data as Float32Array).set(texts.get(caption) as Float32Array, k * ctxSize);
      });
      return { sample, timestep, encoder_hidden_states: ctx, target };
    },
  });
  const params = trainer.modelParameters();
  await trainer.release();
  const size = await exportOnnx(join(KIT_DIR, "unet", "model.onnx"), unetGraph(UNET, false), params);
  await writeJson(join(KIT_DIR, "unet", "config.json"), {
    _class_name: "UNet2DConditionModel",
    in_channels: UNET.inChannels,
    out_channels: UNET.outChannels,
    sample_size: LATENT_SIZE,
    block_out_channels: UNET.channels,
    attention: UNET.attention,
    layers_per_block: UNET.layersPerLevel,
    cross_attention_dim: UNET.contextDim,
    attention_head_dim: UNET.heads,
    norm_num_groups: UNET.groups,
    prediction_type: "epsilon",
  });
  await writeRunStats("unet", { total, seconds, msPerStep }, { params: paramCount(graph), size });
  await writeLayout();
  log("unet", `done in ${(seconds / 60).toFixed(1)} min`);
}

/** model_index.json and scheduler config of the kit folder. */
async function writeLayout(): Promise<void> {
  await writeJson(join(KIT_DIR, "model_index.json"), {
    _class_name: "OnnxStableDiffusionPipeline",
    _diffusers_version: "0.30.0",
    _diffda_kit: "diffda-kit-v1",
    held_out_classes: HELD_OUT_CLASSES,
    text_encoder: ["diffusers", "OnnxRuntimeModel"],
    tokenizer: ["transformers", "CLIPTokenizer"],
    unet: ["diffusers", "OnnxRuntimeModel"],
    vae_encoder: ["diffusers", "OnnxRuntimeModel"],
    vae_decoder: ["diffusers", "OnnxRuntimeModel"],
    scheduler: ["diffusers", "PNDMScheduler"],
    safety_checker: [null, null],
    feature_extractor: [null, null],
    requires_safety_checker: false,
  });
  await writeJson(join(KIT_DIR, "scheduler", "scheduler_config.json"), SD15_SCHEDULER_CONFIG);
}

/**
 * The evaluation classifier's label (argmax of 20 logits) for every image of `corpus`, in batches of 512;
 * `transform` (e.g. a procedural edit) rewrites each image, given its index, before it is classified.
 */
async function predictTestSplit(
  session: Awaited<ReturnType<typeof createSession>>,
  corpus: KitCorpus,
  transform?: (image: Float32Array, index: number) => Float32Array,
): Promise<number[]> {
  const labels: number[] = [];
  for (let s = 0; s < corpus.count; s += 512) {
    const idx = Array.from({ length: Math.min(512, corpus.count - s) }, (_, k) => s + k);
    const x = imageBatch(corpus, idx, false);
    const xd = x.data as Float32Array;
    if (transform)
      idx.forEach((i, k) => {
        xd.set(transform(xd.subarray(k * IMG, (k + 1) * IMG), i), k * IMG);
      });
    const logits = (await runSession(session, { pixel_values: x })).logits.data as Float32Array;
    idx.forEach((_, k) => {
      let best = 0;
      for (let c = 1; c < 20; c++) if (logits[k * 20 + c] > logits[k * 20 + best]) best = c;
      labels.push(best);
    });
  }
  return labels;
}

/** Share of the evaluation classifier's training images that get a procedural edit. */
const EDIT_AUGMENT_SHARE = 0.5;

async function stageClassifier(): Promise<void> {
  const corpus = await trainCorpus();
  const graph = classifierGraph(true);
  const total = steps("classifier", 3000);
  const B = 64;
  const trainer = await stageTrainer(graph, total, {
    weightDecay: 1e-4,
    peak: 3e-3,
    warmup: 50,
    min: 1e-5,
    clipNorm: 2,
  });
  const { seconds } = await trainLoop({
    name: "classifier",
    trainer,
    total,
    batch: (step) => {
      const rng = new Rng(404, step);
      const idx = pick(rng, B, corpus.count);
      const targets = f32([B, CLASSIFIER_CLASSES]);
      idx.forEach((i, k) => {
        (targets.data as Float32Array)[k * CLASSIFIER_CLASSES + corpus.classes[i]] = 1;
      });
      const pixels = imageBatch(corpus, idx, false);
      // Half the images get one of the kit's procedural edits, so that the classifier still names the class
      // of an edited image: the edit model's "class kept" check needs that, and generated samples are softer
      // than real ones, which blur and mosaic imitate.
      const pd = pixels.data as Float32Array;
      idx.forEach((_, k) => {
        if (rng.nextFloat() >= EDIT_AUGMENT_SHARE) return;
        const edit = KIT_EDITS[rng.nextInt(KIT_EDITS.length)].name;
        pd.set(applyEdit(edit, pd.subarray(k * IMG, (k + 1) * IMG), step * B + k), k * IMG);
      });
      return { pixel_values: pixels, targets };
    },
  });
  const params = trainer.modelParameters();
  await trainer.release();
  await exportOnnx(join(EVAL_DIR, "classifier.onnx"), classifierGraph(false), params);
  // Accuracy on the test split (all 20 classes).
  const test = await buildCorpus("test");
  const session = await createSession(await readFile(join(EVAL_DIR, "classifier.onnx")));
  const labels = await predictTestSplit(session, test);
  const perClass = new Array(20).fill(0);
  const perClassN = new Array(20).fill(0);
  labels.forEach((best, i) => {
    perClassN[test.classes[i]]++;
    if (best === test.classes[i]) perClass[test.classes[i]]++;
  });
  // The same test images under each edit: the reference for the edit model's "class kept" rate.
  const editedAccuracy: Record<string, number> = {};
  for (const edit of KIT_EDITS) {
    const edited = await predictTestSplit(session, test, (x, i) => applyEdit(edit.name, x, i));
    const right = edited.filter((best, i) => best === test.classes[i]).length;
    editedAccuracy[edit.name] = Number((right / test.count).toFixed(4));
  }
  await session.release();
  const acc = perClass.reduce((a, b) => a + b, 0) / test.count;
  await writeJson(join(EVAL_DIR, "classifier.json"), {
    classes: KIT_CLASSES.map((c) => c.name),
    input: "pixel_values [batch, 3, 32, 32] RGB in [0, 1] → logits [batch, 20]",
    trained_on: "kit corpus train split (fashion-mnist + mnist train, recoloured), all 20 classes",
    augmentation: `one of the kit's procedural edits (${KIT_EDITS.map((e) => e.name).join(", ")}) on ${EDIT_AUGMENT_SHARE * 100}% of images`,
    steps: total,
    seconds: Math.round(seconds),
    test_accuracy: Number(acc.toFixed(4)),
    test_accuracy_edited: editedAccuracy,
    test_accuracy_per_class: Object.fromEntries(
      KIT_CLASSES.map((c, i) => [c.name, Number((perClass[i] / perClassN[i]).toFixed(4))]),
    ),
  });
  log("classifier", `test accuracy ${acc.toFixed(4)}`);
}

const STAGES: Record<string, () => Promise<void>> = {
  tokenizer: stageTokenizer,
  clip: stageClip,
  vae: stageVae,
  latents: stageLatents,
  unet: stageUnet,
  classifier: stageClassifier,
  edit: () => trainEditStage(),
};

const wanted = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(STAGES);
for (const name of wanted) {
  const run = STAGES[name];
  if (!run) throw new Error(`unknown stage ${name}; stages: ${Object.keys(STAGES).join(" ")}`);
  const t0 = performance.now();
  log(name, "start");
  await run();
  log(name, `finished in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
}
