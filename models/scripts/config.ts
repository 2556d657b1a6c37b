import type { ImageEncoderConfig } from "../../shared/ml/models/clip.js";
import type { UNetConfig } from "../../shared/ml/models/unet.js";
import type { VaeConfig } from "../../shared/ml/models/vae.js";

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
  channels: [48, 96],
  attention: [false, true],
  layersPerLevel: 1,
  contextDim: TEXT_WIDTH,
  heads: 4,
  groups: 16,
};

export const UNET_EDIT: UNetConfig = { ...UNET, conditionChannels: 4 };

/** Output folders (overridable for smoke runs). */
export const KIT_DIR = process.env.KIT_OUT_DIR ?? "models/diffda-kit-v1";
export const EDIT_DIR = process.env.KIT_EDIT_OUT_DIR ?? "models/diffda-kit-v1-edit";
export const EVAL_DIR = process.env.KIT_EVAL_OUT_DIR ?? "models/kit-eval";
export const CACHE_DIR = process.env.KIT_CACHE_DIR ?? ".cache/kit";
