import { classifierFreeGuidanceFromBatch, instructPix2PixGuidanceFromBatch } from "../latents/index.js";
import type { DiffusionModel, LatentDims, Output } from "../models/index.js";
import type { GuidedConditioning } from "./conditioning.js";
import type { Predictor } from "./denoise.js";

/** `copies` copies of a batch, batch-major. */
export function repeatBatch(x: Float32Array, copies: number): Float32Array {
  const out = new Float32Array(x.length * copies);
  for (let k = 0; k < copies; k++) out.set(x, k * x.length);
  return out;
}

/** Channel concatenation of two NCHW batches with the same batch and spatial size. */
export function concatChannels(a: Float32Array, b: Float32Array, batch: number, plane: number): Float32Array {
  const sa = a.length / batch;
  const sb = b.length / batch;
  if (!Number.isInteger(sa / plane) || !Number.isInteger(sb / plane))
    throw new RangeError("channel concat: sizes differ");
  const out = new Float32Array(a.length + b.length);
  for (let n = 0; n < batch; n++) {
    out.set(a.subarray(n * sa, (n + 1) * sa), n * (sa + sb));
    out.set(b.subarray(n * sb, (n + 1) * sb), n * (sa + sb) + sa);
  }
  return out;
}

/**
 * Classifier-free guidance: the UNet runs once on `[x; x]` (batch 2B) with `[uncond; cond]` states and the
 * halves are combined as ε_u + s·(ε_c − ε_u); without guidance it runs once on x with the prompt states.
 */
export function guidedPredictor(
  model: DiffusionModel,
  dims: LatentDims,
  conditioning: GuidedConditioning,
): Predictor {
  return async (x, t) => {
    if (!conditioning.guided) return model.unet.predict(x, dims, t, conditioning.states);
    const out = await model.unet.predict(
      repeatBatch(x, 2),
      { ...dims, batch: 2 * dims.batch },
      t,
      conditioning.states,
    );
    return classifierFreeGuidanceFromBatch(out, conditioning.guidanceScale);
  };
}

/**
 * Diff-II's two-stage prompts: `early` conditioning while t ≥ `threshold` (the noisy, layout-forming steps),
 * `late` below.
 */
export function twoStagePredictor(
  model: DiffusionModel,
  dims: LatentDims,
  early: GuidedConditioning,
  late: GuidedConditioning,
  threshold: number,
): Predictor {
  const first = guidedPredictor(model, dims, early);
  const second = guidedPredictor(model, dims, late);
  return (x, t) => (t >= threshold ? first(x, t) : second(x, t));
}

/**
 * InstructPix2Pix: the UNet takes the noisy latent ‖ the image latent on the channel axis. With guidance it
 * runs at batch 3B on `[text; image; uncond]`: states `[prompt; negative; negative]`, image latents
 * `[image; image; 0]`, combined by three-way guidance; without, at batch B on the prompt and the image.
 */
export function instructPix2PixPredictor(
  model: DiffusionModel,
  dims: LatentDims,
  states: Output,
  imageLatents: Float32Array,
  guidance: { guided: boolean; guidanceScale: number; imageGuidanceScale: number },
): Predictor {
  const plane = dims.height * dims.width;
  const copies = guidance.guided ? 3 : 1;
  const batch = copies * dims.batch;
  const images = guidance.guided
    ? repeatBatch(imageLatents, 3).fill(0, 2 * imageLatents.length)
    : imageLatents;
  const unetDims = { ...dims, batch, channels: model.config.unetInChannels };
  return async (x, t) => {
    const input = concatChannels(repeatBatch(x, copies), images, batch, plane);
    const out = await model.unet.predict(input, unetDims, t, states);
    if (!guidance.guided) return out;
    return instructPix2PixGuidanceFromBatch(out, guidance.guidanceScale, guidance.imageGuidanceScale);
  };
}
