import type { ImageEncoderConfig } from "../../../shared/ml/models/clip.js";
import type { UNetConfig } from "../../../shared/ml/models/unet.js";
import type { VaeConfig } from "../../../shared/ml/models/vae.js";

/** Architectures of the bundled kit (diffda-kit-v1); the training scripts and the bench read them from here. */
export const TEXT_WIDTH = 64;
export const TEXT_LAYERS = 2;
export const TEXT_HEADS = 4;
export const EMBED_DIM = 64;

export const IMAGE_ENCODER: ImageEncoderConfig = {
  inChannels: 3,
  channels: [16, 32, 64, 128],
  groups: 8,
  embedDim: EMBED_DIM,
};

export const VAE: VaeConfig = { inChannels: 3, latentChannels: 4, channels: [16, 32, 64], groups: 8 };
export const LATENT_SIZE = 8;

export const UNET: UNetConfig = {
  inChannels: 4,
  outChannels: 4,
  // [32, 64] rather than session 1's [48, 96]: a B64 forward takes 16.6 ms instead of 27.4 ms on this
  // machine, which is what the ≥ 50 images/s goal at 25 steps with CFG needs.
  channels: [32, 64],
  attention: [false, true],
  layersPerLevel: 1,
  contextDim: TEXT_WIDTH,
  heads: 4,
  groups: 8,
};

export const UNET_EDIT: UNetConfig = { ...UNET, conditionChannels: 4 };

/** Output folders (overridable for smoke runs). */
export const KIT_DIR = process.env.KIT_OUT_DIR ?? "models/diffda-kit-v1";
export const EDIT_DIR = process.env.KIT_EDIT_OUT_DIR ?? "models/diffda-kit-v1-edit";
export const EVAL_DIR = process.env.KIT_EVAL_OUT_DIR ?? "models/kit-eval";
export const CACHE_DIR = process.env.KIT_CACHE_DIR ?? ".cache/kit";
/**
 * Training statistics of each stage (time, steps, parameters, loss curve), committed beside the models so
 * that the cards can be rewritten on a fresh clone, where .cache/ (checkpoints, raw loss logs) is absent.
 */
export const STATS_DIR = process.env.KIT_STATS_DIR ?? "models/training";
