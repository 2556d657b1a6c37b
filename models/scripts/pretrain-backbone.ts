/**
 * Pretrains the classifier's backbone `tinted-digits-resnet8` (shared/classifier/backbones.ts) on the
 * tinted digits of the mnist train split (shared/data/tinted-digits.ts, seeded), checks it on the tinted
 * test split, and writes models/backbones/<id>/backbone.safetensors with a manifest of the pretraining
 * data's provenance (generator, seed, classes, the digest of every image) and of the recipe.
 *
 *   nice node --import tsx models/scripts/pretrain-backbone.ts        # BACKBONE_STEPS (default 600)
 *
 * Resumable: checkpoints go to .cache/backbone/<id>/ and a re-run continues from them.
 */
import { createHash } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ARCHITECTURES, stemFor } from "../../shared/classifier/architectures.js";
import {
  BACKBONE_MANIFEST,
  BACKBONE_WEIGHTS,
  BACKBONES_DIR,
  type BackboneManifest,
} from "../../shared/classifier/backbone.js";
import { BACKBONES } from "../../shared/classifier/backbones.js";
import { evaluateClassifier, exportClassifier, trainClassifier } from "../../shared/classifier/index.js";
import {
  createImageSet,
  digestOfDigests,
  imageDigests,
  loadTintedDigits,
  TINTED_DIGITS_GENERATOR,
  TINTED_DIGITS_SEED,
  TINTED_DIGITS_SIZE,
  TINTED_DIGITS_VIEWS,
  type TintedDigitSet,
} from "../../shared/data/index.js";
import { resnetConfig } from "../../shared/ml/models/resnet.js";

const ID = "tinted-digits-resnet8";
const STEPS = Number(process.env.BACKBONE_STEPS ?? 600);
const RECIPE = {
  batchSize: 32,
  optimizer: "adamw",
  lr: 5e-3,
  weightDecay: 0.05,
  warmupEpochs: 0.2,
  labelSmoothing: 0.1,
  augment: "none",
  seed: 0,
} as const;

function floats(set: TintedDigitSet) {
  return createImageSet({
    channels: set.channels,
    height: set.height,
    width: set.width,
    images: Float32Array.from(set.pixels, (v) => v / 255),
    labels: set.labels,
    classNames: set.classNames,
  });
}

const options = { seed: TINTED_DIGITS_SEED, views: TINTED_DIGITS_VIEWS, size: TINTED_DIGITS_SIZE };
const train = await loadTintedDigits("train", options);
const heldOut = await loadTintedDigits("test", { ...options, views: 1 });
const imageBytes = train.channels * train.height * train.width;
const trainSet = floats(train);
const architecture = BACKBONES[ID].architecture;
const model = resnetConfig({
  inChannels: 3,
  numClasses: train.classNames.length,
  imageSize: TINTED_DIGITS_SIZE,
  stem: stemFor(TINTED_DIGITS_SIZE),
  ...ARCHITECTURES[architecture],
});
const perEpoch = Math.floor(train.labels.length / RECIPE.batchSize);
console.log(`${train.labels.length} pretraining images, ${STEPS} steps of ${RECIPE.batchSize}`);
const started = Date.now();
let last = 0;
const result = await trainClassifier({
  trainSet,
  model,
  ...RECIPE,
  epochs: Math.ceil(STEPS / perEpoch),
  maxSteps: STEPS,
  checkpointDir: join(".cache", "backbone", ID),
  checkpointEverySteps: 100,
  resume: true,
  onProgress: (p) => {
    if (Date.now() - last < 20_000) return;
    last = Date.now();
    console.log(`step ${p.step}/${p.totalSteps} loss ${p.loss.toFixed(3)} eta ${Math.round(p.etaSeconds)} s`);
  },
});
const evaluation = await evaluateClassifier(result.parameters, result.config, floats(heldOut), {
  batchSize: 500,
});
console.log(`held-out top-1 ${(100 * evaluation.top1).toFixed(2)} %`);

const folder = join(BACKBONES_DIR, ID);
await mkdir(folder, { recursive: true });
const weights = join(folder, BACKBONE_WEIGHTS);
await exportClassifier(weights, result, { backbone: ID });
const bytes = await readFile(weights);
const manifest: BackboneManifest = {
  id: ID,
  architecture,
  weights: {
    file: BACKBONE_WEIGHTS,
    sha256: createHash("sha256").update(bytes).digest("hex"),
    bytes: bytes.length,
  },
  pretraining: {
    generator: TINTED_DIGITS_GENERATOR,
    seed: options.seed,
    views: options.views,
    size: options.size,
    source: {
      dataset: "mnist",
      version: train.sourceVersion,
      split: "train",
      images: train.sourcePixels.length / train.sourceImageBytes,
      digest: digestOfDigests(imageDigests(train.sourcePixels, train.sourceImageBytes)),
    },
    classNames: [...train.classNames],
    images: train.labels.length,
    digest: digestOfDigests(imageDigests(train.pixels, imageBytes)),
  },
  training: {
    ...RECIPE,
    steps: result.steps,
    imagesSeen: result.imagesSeen,
    parameterCount: result.parameterCount,
    finalEpochLoss: result.history.at(-1)?.loss ?? null,
    seconds: Math.round(result.seconds),
    wallSeconds: Math.round((Date.now() - started) / 1000),
    heldOut: {
      what: "the tinted mnist test split, one view per digit (same generator and seed)",
      images: heldOut.labels.length,
      top1: Number(evaluation.top1.toFixed(4)),
    },
  },
};
await writeFile(join(folder, BACKBONE_MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
console.log(`wrote ${folder} (${bytes.length} bytes)`);
