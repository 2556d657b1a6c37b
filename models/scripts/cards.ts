/**
 * Writes the model cards (MODEL_CARD.md) and loss plots of the kit from the training stats and losses in
 * .cache/kit and the bench results: `node --import tsx models/scripts/cards.ts` (run by train:models).
 */
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { encodePng } from "../../shared/data/index.js";
import {
  CORPUS_SEED,
  HELD_OUT_CLASSES,
  HELD_OUT_WORDS,
  KIT_CLASSES,
  KIT_COLORS,
} from "../../shared/kit/corpus.js";
import { KIT_EDITS } from "../../shared/kit/edits.js";
import { lossCurve, readLosses, writeJson } from "./lib/common.js";
import {
  EDIT_DIR,
  EVAL_DIR,
  IMAGE_ENCODER,
  KIT_DIR,
  STATS_DIR,
  TEXT_HEADS,
  TEXT_LAYERS,
  TEXT_WIDTH,
  UNET,
  VAE,
} from "./lib/config.js";

async function json(path: string): Promise<Record<string, any>> {
  return existsSync(path) ? JSON.parse(await readFile(path, "utf8")) : {};
}

/** A 320×120 PNG of the smoothed loss (black) on white, log-scaled y. */
async function lossPlot(losses: { step: number; loss: number }[], path: string): Promise<void> {
  const W = 320;
  const H = 120;
  const img = new Float32Array(3 * W * H).fill(1);
  if (losses.length < 2) return;
  const curve = lossCurve(losses, 160);
  const ys = curve.map((p) => Math.log(Math.max(1e-6, p.loss)));
  const lo = Math.min(...ys);
  const hi = Math.max(...ys);
  const maxStep = curve[curve.length - 1].step;
  for (let k = 0; k < curve.length; k++) {
    const x = Math.min(W - 1, Math.round((curve[k].step / maxStep) * (W - 1)));
    const y = Math.round((1 - (ys[k] - lo) / Math.max(1e-9, hi - lo)) * (H - 9)) + 4;
    for (let dy = -1; dy <= 1; dy++) for (let c = 0; c < 3; c++) img[c * W * H + (y + dy) * W + x] = 0;
  }
  await writeFile(path, await encodePng(img, { channels: 3, height: H, width: W }));
}

function curveTable(losses: { step: number; loss: number }[]): string {
  const c = lossCurve(losses, 10);
  return `| step | mean loss over the window |\n|---|---|\n${c.map((p) => `| ${p.step} | ${p.loss} |`).join("\n")}`;
}

const mb = (bytes: number | undefined) => (bytes ? `${(bytes / 1e6).toFixed(2)} MB` : "—");
const min = (s: number | undefined) => (s ? `${(s / 60).toFixed(1)} min` : "—");

const DATA = `## Data

The kit corpus (\`shared/kit/corpus.ts\`): the **train splits** of fashion-mnist (60,000) and mnist (7,945) as
fixed by \`shared/data\` (the test splits never touch training), padded 28→32 and recoloured: each glyph is
tinted with one of ${KIT_COLORS.length} colours (${KIT_COLORS.map((c) => c.name).join(", ")}) drawn per image
from seed ${CORPUS_SEED}, on black. Captions come from templates ("a photo of a red sneaker", "a sneaker",
"a handwritten digit seven", "a blue digit 7", …), a colour word in about half of them; 10% of the captions
of seen classes are generic ("a piece of clothing", "a photo of an object", "a handwritten digit").

**Held-out classes** (\`HELD_OUT_CLASSES\` in \`shared/kit/corpus.ts\`): ${HELD_OUT_CLASSES.map((c) => `"${c}"`).join(", ")}.
Their images are in the corpus, but captioned only generically; the words ${HELD_OUT_WORDS.map((w) => `"${w}"`).join(", ")}
never occur in training text, so the untuned model cannot draw them by name (novel-concept few-shot tasks).

Classes: ${KIT_CLASSES.map((c) => c.name + (c.heldOut ? " (held out)" : "")).join(", ")}.`;

async function main(): Promise<void> {
  const stats = {
    clip: await json(join(STATS_DIR, "clip.json")),
    vae: await json(join(STATS_DIR, "vae.json")),
    unet: await json(join(STATS_DIR, "unet.json")),
    edit: await json(join(STATS_DIR, "edit.json")),
  };
  const bench = await json(join("bench", "results", "model-kit.json"));
  const classifier = await json(join(EVAL_DIR, "classifier.json"));
  const raw = {
    clip: await readLosses("clip"),
    vae: await readLosses("vae"),
    unet: await readLosses("unet"),
    edit: await readLosses("edit"),
  };
  // Raw per-step logs live in .cache (absent on a fresh clone): where they exist, plot them and keep a
  // 160-point curve in the committed stats; elsewhere the cards' tables come from that stored curve.
  const losses = { ...raw };
  for (const name of Object.keys(raw) as (keyof typeof raw)[]) {
    const l = raw[name];
    const dir = name === "edit" ? EDIT_DIR : name === "clip" ? join(KIT_DIR, "clip") : KIT_DIR;
    if (l.length && existsSync(dir)) {
      await lossPlot(l, join(dir, name === "clip" || name === "edit" ? "loss.png" : `loss-${name}.png`));
      stats[name].curve = lossCurve(l, 160);
      await writeJson(join(STATS_DIR, `${name}.json`), stats[name]);
    } else losses[name] = stats[name].curve ?? [];
  }
  const rec = bench.recognition ?? {};
  const perClass = Object.entries(rec.per_class ?? {})
    .map(
      ([name, v]: [string, any]) =>
        `| ${name}${v.held_out ? " (held out)" : ""} | "${v.prompt}" | ${(v.recognised * 100).toFixed(1)}% |`,
    )
    .join("\n");
  const tp = bench.throughput ?? {};
  const kitCard = `# diffda-kit-v1 — the bundled text-to-image model

A tiny latent text-to-image diffusion model that diffda trains itself (no model hub is reachable), in the
diffusers ONNX layout: \`model_index.json\`, \`scheduler/\` (the SD1.5 config), \`tokenizer/\` (CLIP BPE),
\`text_encoder/\`, \`unet/\`, \`vae_encoder/\`, \`vae_decoder/\`, plus \`clip/\` (image–text model for GIF
guidance and scoring; its own card). Rebuild: \`npm run train:models\` (resumable). Measure: \`npm run bench:kit\`.

${DATA}

## Components

| part | architecture | parameters | training | time | ONNX size |
|---|---|---|---|---|---|
| tokenizer | CLIP BPE: 256 bytes + 256 bytes\`</w>\` + merges learned from the captions and edit instructions, bos/eos, pad = eos, length 16; unseen words split into byte symbols | — | — | — | — |
| text_encoder | token + position embedding, ${TEXT_LAYERS} bidirectional pre-norm transformer layers, width ${TEXT_WIDTH}, ${TEXT_HEADS} heads, final LayerNorm; outputs \`last_hidden_state\` [B,16,64] and \`pooler_output\` (first eos) | (in the CLIP count) | contrastive, with the image tower (see clip/MODEL_CARD.md); frozen afterwards | ${min(stats.clip.seconds)} | ${mb(stats.clip.sizes?.text_encoder)} |
| vae | KL autoencoder, channels ${JSON.stringify(VAE.channels)}, one ResNet block per level, no attention; 32×32×3 ↔ 8×8×4; loss L1 + L2 + 1e-4·KL | ${stats.vae.params ?? "—"} | ${stats.vae.total ?? "—"} steps × batch 32, AdamW 1e-3 warmup+cosine | ${min(stats.vae.seconds)} (${stats.vae.msPerStep?.toFixed(0) ?? "—"} ms/step) | ${mb((stats.vae.sizes?.vae_encoder ?? 0) + (stats.vae.sizes?.vae_decoder ?? 0))} (enc+dec) |
| unet | diffusers-named UNet2DConditionModel, channels ${JSON.stringify(UNET.channels)}, attention ${JSON.stringify(UNET.attention)} (self + cross to the text encoder), ${UNET.layersPerLevel} ResNet per level, ${UNET.heads} heads, GN ${UNET.groups}; ε-prediction | ${stats.unet.params ?? "—"} | ${stats.unet.total ?? "—"} steps × batch 64, SD1.5 schedule (scaled_linear 0.00085→0.012, 1000 steps), 10% empty-caption dropout for CFG, AdamW 1e-3 warmup+cosine | ${min(stats.unet.seconds)} (${stats.unet.msPerStep?.toFixed(0) ?? "—"} ms/step) | ${mb(stats.unet.size)} |

VAE: \`vae_encoder\` maps \`sample\` [B,3,32,32] in [−1,1] to \`latent_sample\` = the **posterior mean**
(unscaled); multiply by \`scaling_factor\` (${stats.vae.scalingFactor?.toFixed(4) ?? "—"} = 1/std of the train-corpus
latents, in \`vae_*/config.json\`). Reconstruction on the train corpus: MSE ${stats.vae.reconMseSigned?.toFixed(5) ?? "—"}
in [−1,1] units (PSNR ${stats.vae.reconPsnr?.toFixed(2) ?? "—"} dB). UNet inputs: \`sample\` [B,4,8,8],
\`timestep\` [B] float32, \`encoder_hidden_states\` [B,16,64]; output \`out_sample\`.

Each UNet batch image is a digit with probability 0.4 and uniform over the corpus otherwise (≈47% digits):
digits are 12% of the corpus and their thin strokes are the hardest thing the model draws.
${
  (stats.unet.runs ?? []).length > 1
    ? `The UNet was trained in ${stats.unet.runs.length} runs (${stats.unet.runs.map((r: any) => `${r.to === undefined ? `to step ${r.total}` : `steps ${r.from}→${r.to} under a ${r.total}-step budget`}: ${min(r.seconds)}, ${Math.round(r.msPerStep)} ms/step${r.note ? `, ${r.note}` : ""}`).join("; ")}); each resumed the previous checkpoint with the cosine stretched to the new budget (the machine was shared with other work, hence the changing speed; ${stats.unet.msPerStepAlone ?? "—"} ms/step alone).\n`
    : ""
}
## Loss curves

UNet (ε-MSE): ![unet loss](loss-unet.png)

${curveTable(losses.unet)}

VAE (L1 + L2 + KL): ![vae loss](loss-vae.png)

${curveTable(losses.vae)}

## Measured quality and speed (\`npm run bench:kit\`, bench/results/model-kit.json)

Recognition: a 20-class CNN trained on the real train corpus (\`${EVAL_DIR}/classifier.onnx\`, test accuracy
${classifier.test_accuracy ?? "—"}) labels text-to-image samples (${rec.samples_per_class ?? "—"} per class,
${rec.steps ?? "—"} DPM-Solver++ steps, CFG ${rec.guidance_scale ?? "—"}). Seen classes: mean
**${rec.seen_mean !== undefined ? (rec.seen_mean * 100).toFixed(1) : "—"}%** (min ${rec.seen_min !== undefined ? (rec.seen_min * 100).toFixed(1) : "—"}%);
held-out classes prompted by name: mean ${rec.held_out_mean !== undefined ? (rec.held_out_mean * 100).toFixed(1) : "—"}%.

| class | prompt | recognised as the prompted class |
|---|---|---|
${perClass}

Samples (8 per class, rows in class order): ![samples](samples.png)

Throughput, text-to-image at batch ${tp.batch ?? 32}, ${tp.steps ?? 25} DPM-Solver++ steps with CFG (UNet at
batch 64), text encoding and VAE decoding included, on this 2-core machine while shared with other jobs:
median ${tp.images_per_second_median ?? "—"} images/s (best ${tp.images_per_second_best ?? "—"}); UNet call at
batch 64: ${tp.unet_ms_batch64_median ?? "—"} ms median. Goal: ≥ 50 images/s.

## Limits

32×32 images of glyphs on black, 20 classes; it draws shape and colour, not photographs. The text encoder
knows only the caption vocabulary; other words tokenize into byte symbols and carry little meaning until
fine-tuned (textual inversion adds tokens with \`ClipTokenizer.withAddedTokens\`).
`;
  if (existsSync(KIT_DIR)) await writeFile(join(KIT_DIR, "MODEL_CARD.md"), kitCard);

  const zs = bench.clip_zero_shot ?? {};
  const clipCard = `# diffda-kit-v1 / clip — the kit's CLIP-style image–text model

For GIF's CLIP-guided perturbation and for scoring synthetic images. \`text_model.onnx\`: \`input_ids\` int32
[B,16] → \`text_embeds\` [B,64]; \`vision_model.onnx\`: \`pixel_values\` [B,3,32,32] in [−1,1] → \`image_embeds\`
[B,64]; both L2-normalised, so logits = \`logit_scale\` (config.json, learned: ${stats.clip.logitScale?.toFixed(2) ?? "—"}) × cosine.
The text tower is the kit's \`text_encoder\` (same weights) plus \`text_projection\`.

${DATA}

## Architecture and training

- Image tower: ${IMAGE_ENCODER.channels.length} conv stages ${JSON.stringify(IMAGE_ENCODER.channels)} (stride 2 after the first), GN + SiLU and a residual conv each, global average pooling, \`visual_projection\` → 64.
- Text tower: token + position embeddings, ${TEXT_LAYERS} bidirectional transformer layers (width ${TEXT_WIDTH}, ${TEXT_HEADS} heads), final LayerNorm, first-eos pooling, \`text_projection\` → 64.
- Loss: symmetric InfoNCE with a learned temperature (init 1/0.07); identical captions in a batch share the target mass.
- ${stats.clip.total ?? "—"} steps × batch 64, AdamW 1e-3 warmup + cosine, clip-norm 1; ${stats.clip.params ?? "—"} parameters; ${min(stats.clip.seconds)} (${stats.clip.msPerStep?.toFixed(0) ?? "—"} ms/step).

![loss](loss.png)

${curveTable(losses.clip)}

## Measured

Zero-shot accuracy on the **test split** of the ${KIT_CLASSES.filter((c) => !c.heldOut).length} seen classes with prompts "a photo of a {class}": **${zs.accuracy !== undefined ? (zs.accuracy * 100).toFixed(1) : "—"}%** (\`npm run bench:kit\`).
`;
  if (existsSync(join(KIT_DIR, "clip"))) await writeFile(join(KIT_DIR, "clip", "MODEL_CARD.md"), clipCard);

  const ed = bench.edit ?? {};
  const editRows = Object.entries(ed.per_edit ?? {})
    .map(
      ([name, v]: [string, any]) =>
        `| ${name} | "${v.instruction}" | ${v.statistic} (${v.direction}) | ${v.stat_source_mean} → ${v.stat_output_mean} (exact edit ${v.stat_exact_edit_mean}) | ${(v.moved_right_way * 100).toFixed(0)}% | ${(v.closer_to_exact_edit_than_source * 100).toFixed(0)}% | ${(v.class_kept * 100).toFixed(0)}% (exact edit: ${(v.class_kept_exact_edit_reference * 100).toFixed(0)}%) |`,
    )
    .join("\n");
  const editCard = `# diffda-kit-v1-edit — the kit's InstructPix2Pix-style edit model

For DiffuseMix-style instruction edits. Same layout as diffda-kit-v1 (text encoder, tokenizer, VAE and
scheduler are copies of it); \`unet/\` takes 8 input channels: the noisy latent ‖ the source image's VAE latent
(**unscaled**, the posterior mean, as diffusers' InstructPix2Pix pipeline feeds it) (\`in_channels: 8\` in unet/config.json). Use three-way guidance with the batch order
[text+image; image only; neither], e.g. guidance 4, image guidance 1.5.

## Training

- Initialised from the text-to-image UNet; the 4 new \`conv_in\` input channels start at zero.
- Edit pairs made procedurally from train-corpus images (\`shared/kit/edits.ts\`): ${KIT_EDITS.map((e) => `${e.name} (${e.instructions.map((i) => `"${i}"`).join(", ")})`).join("; ")}.
- Target: the VAE latent of the edited image; conditioning dropout 5% text only, 5% image only, 5% both.
- ${stats.edit.total ?? "—"} steps × batch 64, AdamW 5e-4 warmup + cosine, SD1.5 noise schedule, ε-prediction; ${stats.edit.params ?? "—"} parameters; ${min(stats.edit.seconds)} (${stats.edit.msPerStep?.toFixed(0) ?? "—"} ms/step); ONNX ${mb(stats.edit.size)}.

![loss](loss.png)

${curveTable(losses.edit)}

## Measured (\`npm run bench:kit\`)

${ed.images ?? "—"} test-split images of seen classes, each instruction, ${ed.steps ?? "—"} DPM-Solver++ steps, guidance ${ed.guidance_scale ?? "—"}, image guidance ${ed.image_guidance_scale ?? "—"}.
"moved" = the instruction's pixel statistic moved the right way from the source; "closer" = the output is
nearer (L2) to the exact procedural edit than the source is; "class kept" = the real-data classifier gives
the source label (it was trained with these edits on half its images; the exact edit's rate is given as the
ceiling).

| edit | instruction | statistic | mean source → output | moved | closer | class kept |
|---|---|---|---|---|---|---|
${editRows}

Rows: sources, then one row per edit: ![edits](edits.png)
`;
  if (existsSync(EDIT_DIR)) await writeFile(join(EDIT_DIR, "MODEL_CARD.md"), editCard);
  console.log("cards written");
}

await main();
