import { KIT_MAX_LENGTH } from "../../../shared/kit/corpus.js";
import { GraphBuilder } from "../../../shared/ml/graph/index.js";
import { clipLoss, imageEncoder, l2Normalize, textProjection } from "../../../shared/ml/models/clip.js";
import { textEncoder } from "../../../shared/ml/models/text-encoder.js";
import { type UNetConfig, unet } from "../../../shared/ml/models/unet.js";
import { vaeDecoder, vaeEncoder } from "../../../shared/ml/models/vae.js";
import {
  conv2d,
  globalAvgPool,
  groupNorm,
  linear,
  maxPool2d,
  mse,
  relu,
  softmaxCrossEntropy,
} from "../../../shared/ml/nn/index.js";
import { DataType } from "../../../shared/ml/onnx/types.js";
import { EMBED_DIM, IMAGE_ENCODER, LATENT_SIZE, TEXT_HEADS, TEXT_LAYERS, TEXT_WIDTH, VAE } from "./config.js";

export interface TextSpec {
  vocabSize: number;
  eosTokenId: number;
}

const SEED = 1;

function textConfig(t: TextSpec) {
  return { ...t, maxLength: KIT_MAX_LENGTH, width: TEXT_WIDTH, layers: TEXT_LAYERS, heads: TEXT_HEADS };
}

/** CLIP training graph: images [-1, 1], token ids, soft targets → symmetric InfoNCE `loss`. */
export function clipTrainGraph(t: TextSpec) {
  const b = new GraphBuilder({ name: "clip", seed: SEED });
  const x = b.input("pixel_values", ["batch", 3, 32, 32]);
  const ids = b.input("input_ids", ["batch", KIT_MAX_LENGTH], DataType.INT32);
  const targets = b.input("targets", ["batch", "batch"]);
  const img = imageEncoder(b, x, IMAGE_ENCODER);
  const te = textEncoder(b, ids, textConfig(t));
  const txt = textProjection(b, te.pooled, TEXT_WIDTH, EMBED_DIM);
  const { loss } = clipLoss(b, img, txt, targets);
  b.output(loss, "loss");
  return b.graph;
}

/** text_encoder/model.onnx: input_ids → last_hidden_state, pooler_output. */
export function textEncoderGraph(t: TextSpec) {
  const b = new GraphBuilder({ name: "text_encoder", seed: SEED });
  const ids = b.input("input_ids", ["batch", KIT_MAX_LENGTH], DataType.INT32);
  const te = textEncoder(b, ids, textConfig(t));
  b.output(te.lastHiddenState, "last_hidden_state");
  b.output(te.pooled, "pooler_output");
  return b.graph;
}

/** clip/text_model.onnx: input_ids → text_embeds (projected, L2-normalised). */
export function clipTextGraph(t: TextSpec) {
  const b = new GraphBuilder({ name: "clip_text", seed: SEED });
  const ids = b.input("input_ids", ["batch", KIT_MAX_LENGTH], DataType.INT32);
  const te = textEncoder(b, ids, textConfig(t));
  b.output(l2Normalize(b, textProjection(b, te.pooled, TEXT_WIDTH, EMBED_DIM)), "text_embeds");
  return b.graph;
}

/** clip/vision_model.onnx: pixel_values [-1, 1] → image_embeds (projected, L2-normalised). */
export function clipVisionGraph() {
  const b = new GraphBuilder({ name: "clip_vision", seed: SEED });
  const x = b.input("pixel_values", ["batch", 3, 32, 32]);
  b.output(l2Normalize(b, imageEncoder(b, x, IMAGE_ENCODER)), "image_embeds");
  return b.graph;
}

/** VAE training graph: image x [-1, 1] and noise eps → L1 + L2 reconstruction + klWeight · KL. */
export function vaeTrainGraph(klWeight: number) {
  const b = new GraphBuilder({ name: "vae", seed: SEED });
  const x = b.input("sample", ["batch", 3, 32, 32]);
  const eps = b.input("eps", ["batch", VAE.latentChannels, LATENT_SIZE, LATENT_SIZE]);
  const { mean, logvar } = vaeEncoder(b, x, VAE);
  const clipped = b.op("Clip", [logvar, b.scalar(-30), b.scalar(20)]);
  const z = b.op("Add", [mean, b.op("Mul", [b.op("Exp", [b.op("Mul", [clipped, b.scalar(0.5)])]), eps])]);
  const y = vaeDecoder(b, z, VAE);
  const diff = b.op("Sub", [y, x]);
  const l1 = b.op("ReduceMean", [b.op("Abs", [diff])], { keepdims: 0 });
  const l2 = mse(b, y, x);
  const kl = b.op("Mul", [
    b.op(
      "ReduceMean",
      [
        b.op("Sub", [
          b.op("Add", [b.op("Mul", [mean, mean]), b.op("Exp", [clipped])]),
          b.op("Add", [clipped, b.scalar(1)]),
        ]),
      ],
      { keepdims: 0 },
    ),
    b.scalar(0.5),
  ]);
  const loss = b.op("Add", [b.op("Add", [l1, l2]), b.op("Mul", [kl, b.scalar(klWeight)])]);
  b.output(loss, "loss");
  b.output(l2, "l2");
  b.output(kl, "kl");
  return b.graph;
}

/** vae_encoder/model.onnx: sample [-1, 1] → latent_sample (the posterior mean, unscaled). */
export function vaeEncoderGraph() {
  const b = new GraphBuilder({ name: "vae_encoder", seed: SEED });
  const x = b.input("sample", ["batch", 3, 32, 32]);
  const { mean } = vaeEncoder(b, x, VAE);
  b.output(mean, "latent_sample");
  return b.graph;
}

/** vae_decoder/model.onnx: latent_sample (unscaled) → sample [-1, 1]. */
export function vaeDecoderGraph() {
  const b = new GraphBuilder({ name: "vae_decoder", seed: SEED });
  const z = b.input("latent_sample", ["batch", VAE.latentChannels, LATENT_SIZE, LATENT_SIZE]);
  b.output(vaeDecoder(b, z, VAE), "sample");
  return b.graph;
}

/** UNet graph (inputs sample, timestep [batch] float, encoder_hidden_states; output out_sample), optionally with an ε-MSE loss. */
export function unetGraph(config: UNetConfig, train: boolean) {
  const b = new GraphBuilder({ name: "unet", seed: SEED });
  const inCh = config.inChannels + (config.conditionChannels ?? 0);
  const x = b.input("sample", ["batch", inCh, LATENT_SIZE, LATENT_SIZE]);
  const t = b.input("timestep", ["batch"]);
  const c = b.input("encoder_hidden_states", ["batch", KIT_MAX_LENGTH, TEXT_WIDTH]);
  const out = unet(b, x, t, c, config);
  if (train) {
    const target = b.input("target", ["batch", config.outChannels, LATENT_SIZE, LATENT_SIZE]);
    b.output(mse(b, out, target), "loss");
  } else b.output(out, "out_sample");
  return b.graph;
}

export const CLASSIFIER_CLASSES = 20;

/** The evaluation classifier (20 kit classes): a small CNN on RGB 32×32 in [0, 1]. */
export function classifierGraph(train: boolean) {
  const b = new GraphBuilder({ name: "classifier", seed: SEED });
  const x = b.input("pixel_values", ["batch", 3, 32, 32]);
  let h = relu(
    b,
    groupNorm(b, "norm1", conv2d(b, "conv1", x, { inChannels: 3, outChannels: 32, kernel: 3 }), {
      channels: 32,
      groups: 8,
    }),
  );
  h = maxPool2d(b, h, 2);
  h = relu(
    b,
    groupNorm(b, "norm2", conv2d(b, "conv2", h, { inChannels: 32, outChannels: 64, kernel: 3 }), {
      channels: 64,
      groups: 8,
    }),
  );
  h = maxPool2d(b, h, 2);
  h = relu(
    b,
    groupNorm(b, "norm3", conv2d(b, "conv3", h, { inChannels: 64, outChannels: 128, kernel: 3 }), {
      channels: 128,
      groups: 8,
    }),
  );
  h = b.op("Flatten", [globalAvgPool(b, maxPool2d(b, h, 2))], { axis: 1 });
  const logits = linear(b, "fc", h, { inFeatures: 128, outFeatures: CLASSIFIER_CLASSES });
  if (train) {
    const targets = b.input("targets", ["batch", CLASSIFIER_CLASSES]);
    b.output(
      softmaxCrossEntropy(b, logits, targets, { classes: CLASSIFIER_CLASSES, labelSmoothing: 0.05 }),
      "loss",
    );
  } else b.output(logits, "logits");
  return b.graph;
}
