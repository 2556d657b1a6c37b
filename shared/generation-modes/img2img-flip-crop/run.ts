import { img2img, sampleRng } from "../../diffusion/index.js";
import { PLAN_PURPOSE } from "../plan-purpose.js";
import { defineRunner, type PlanContext, type SizedImage } from "../runtime.js";
import { sampleBase, sourceImage } from "../source.js";
import { cropSquare, flipHorizontal } from "../transforms.js";
import { img2imgFlipCrop } from "./spec.js";

interface Resolved {
  readonly strength?: number;
  readonly minCropScale: number;
  readonly horizontalFlip: boolean;
}

/** The crop when the request sets none: a mild one, so the object stays in view. */
const DEFAULT_MIN_CROP_SCALE = 0.75;

/** The source flipped (p = 0.5) and cropped to a random square, each draw from the sample's own stream. */
export function flipCrop(source: SizedImage, r: Resolved, key: PlanContext["key"]): SizedImage {
  let image = source.image;
  if (r.horizontalFlip && sampleRng(key, PLAN_PURPOSE.flip).nextFloat() < 0.5) image = flipHorizontal(image);
  const rng = sampleRng(key, PLAN_PURPOSE.crop);
  const shorter = Math.min(image.height, image.width);
  const scale = r.minCropScale + (1 - r.minCropScale) * rng.nextFloat();
  const side = Math.max(1, Math.min(shorter, Math.round(scale * shorter)));
  if (side < shorter || image.height !== image.width) {
    const top = rng.nextInt(image.height - side + 1);
    const left = rng.nextInt(image.width - side + 1);
    image = cropSquare(image, top, left, side);
  }
  return { image, height: source.height, width: source.width };
}

/** Img2img within the class from a flipped and cropped source. */
export const img2imgFlipCropRunner = defineRunner({
  spec: img2imgFlipCrop,
  resolve: (v): Resolved => ({
    strength: v.strength as number | undefined,
    minCropScale: (v.minCropScale as number | undefined) ?? DEFAULT_MIN_CROP_SCALE,
    horizontalFlip: (v.horizontalFlip as boolean | undefined) ?? true,
  }),
  async plan(r, p) {
    const label = p.sourceLabel;
    return { label, prompt: p.prompt(label), ...flipCrop(await p.image(p.sourceIndex), r, p.key) };
  },
  engine: async (r) => ({ strength: r.strength }),
  run: (model, samples, params, c) =>
    img2img(
      model,
      samples.map((s) => ({ ...sampleBase(s), image: sourceImage(s), label: s.label })),
      { ...c.sampling, signal: c.signal, onProgress: c.onProgress, strength: params.strength },
    ),
});
