import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { parseDiffusersJson } from "../schedulers/index.js";
import type { TensorSpec } from "./io.js";

/** What the pipelines need to know about a model folder beyond its sessions. */
export interface DiffusionModelConfig {
  /** Channels of a latent (VAE `latent_channels`; 4 for SD). */
  readonly latentChannels: number;
  /** Channels the UNet takes (`in_channels`): the latent channels, or 2× for InstructPix2Pix. */
  readonly unetInChannels: number;
  /** Image pixels per latent pixel: 2^(len(VAE `block_out_channels`) − 1); 8 for SD. */
  readonly vaeScaleFactor: number;
  /** Default latent side (UNet `sample_size`); the default image side is this × `vaeScaleFactor`. */
  readonly sampleSize: number;
  /** VAE `scaling_factor` (0.18215 for SD 1.x): latents the UNet sees are (z − shift)·scaling. */
  readonly scalingFactor: number;
  /** VAE `shift_factor` (0 unless the config says otherwise). */
  readonly shiftFactor: number;
}

/** Stable Diffusion 1.x values, used where neither a config.json nor the session metadata says. */
export const SD15_MODEL_DEFAULTS: DiffusionModelConfig = Object.freeze({
  latentChannels: 4,
  unetInChannels: 4,
  vaeScaleFactor: 8,
  sampleSize: 64,
  scalingFactor: 0.18215,
  shiftFactor: 0,
});

/** A JSON object read from a model folder, or undefined when the file does not exist. */
export async function readJsonObject(path: string): Promise<Record<string, unknown> | undefined> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  const value = parseDiffusersJson(text);
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new Error(`${path} must hold a JSON object`);
  }
  return value as Record<string, unknown>;
}

/** `<dir>/<component>/config.json` (Optimum writes one per component; the old diffusers export none). */
export function readComponentConfig(
  dir: string,
  component: string,
): Promise<Record<string, unknown> | undefined> {
  return readJsonObject(join(dir, component, "config.json"));
}

function positiveInt(value: unknown, what: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
    throw new Error(`${what} must be a positive integer, got ${JSON.stringify(value)}`);
  }
  return value;
}

function finite(value: unknown, what: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "number" || !Number.isFinite(value)) throw new Error(`${what} must be a number`);
  return value;
}

function staticDim(spec: TensorSpec | undefined, axis: number): number | undefined {
  const d = spec?.shape[axis];
  return typeof d === "number" && d > 0 ? d : undefined;
}

/** The sources {@link resolveModelConfig} reads, in priority order after the explicit overrides. */
export interface ConfigSources {
  readonly unetConfig?: Record<string, unknown>;
  /** `vae_decoder/config.json`, else `vae_encoder/config.json`. */
  readonly vaeConfig?: Record<string, unknown>;
  readonly unetSample?: TensorSpec;
  readonly unetOutput?: TensorSpec;
  readonly vaeDecoderInput?: TensorSpec;
}

/**
 * Resolves the model config: explicit overrides, then the components' config.json (diffusers field names),
 * then fixed sizes in the session metadata, then the SD 1.x defaults (what diffusers' ONNX pipeline hard-codes).
 */
export function resolveModelConfig(
  sources: ConfigSources,
  overrides: Partial<DiffusionModelConfig> = {},
): DiffusionModelConfig {
  const unet = sources.unetConfig ?? {};
  const vae = sources.vaeConfig ?? {};
  const blocks = vae.block_out_channels;
  if (blocks !== undefined && (!Array.isArray(blocks) || blocks.length === 0)) {
    throw new Error("VAE block_out_channels must be a non-empty array");
  }
  const latentChannels =
    overrides.latentChannels ??
    positiveInt(vae.latent_channels, "VAE latent_channels") ??
    positiveInt(unet.out_channels, "UNet out_channels") ??
    staticDim(sources.vaeDecoderInput, 1) ??
    staticDim(sources.unetOutput, 1) ??
    SD15_MODEL_DEFAULTS.latentChannels;
  const config: DiffusionModelConfig = {
    latentChannels,
    unetInChannels:
      overrides.unetInChannels ??
      positiveInt(unet.in_channels, "UNet in_channels") ??
      staticDim(sources.unetSample, 1) ??
      latentChannels,
    vaeScaleFactor:
      overrides.vaeScaleFactor ??
      (Array.isArray(blocks) ? 2 ** (blocks.length - 1) : SD15_MODEL_DEFAULTS.vaeScaleFactor),
    sampleSize:
      overrides.sampleSize ??
      positiveInt(unet.sample_size, "UNet sample_size") ??
      staticDim(sources.unetSample, 2) ??
      SD15_MODEL_DEFAULTS.sampleSize,
    scalingFactor:
      overrides.scalingFactor ??
      finite(vae.scaling_factor, "VAE scaling_factor") ??
      SD15_MODEL_DEFAULTS.scalingFactor,
    shiftFactor: overrides.shiftFactor ?? finite(vae.shift_factor, "VAE shift_factor") ?? 0,
  };
  if (
    config.unetInChannels !== config.latentChannels &&
    config.unetInChannels !== 2 * config.latentChannels
  ) {
    throw new Error(
      `UNet in_channels ${config.unetInChannels} is neither the latent channels ${config.latentChannels} nor twice them`,
    );
  }
  return Object.freeze(config);
}
