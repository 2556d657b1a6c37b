import { defineMode } from "../mode.js";
import { flag, number, STRENGTH } from "../parameters.js";

/**
 * SDEdit img2img within the source's class from a randomly flipped and cropped source: the classic
 * geometric augmentation, then a diffusion edit that repaints the new view with the class prompt.
 */
export const img2imgFlipCrop = defineMode({
  name: "img2img_flip_crop",
  protoCase: "img2imgFlipCrop",
  kind: "img2img_flip_crop",
  summary:
    "flip the real image (p = 0.5) and crop a random square of 75–100 % of its side, resize it back, then SDEdit it with its own class prompt",
  usedBy: "Flip-crop guidance",
  parameters: {
    strength: STRENGTH,
    minCropScale: number({ min: 0.25, max: 1 }, "Flip-crop: smallest crop side as a share of the image's"),
    horizontalFlip: flag("Flip-crop: random horizontal flip of the source"),
  },
  required: ["strength"],
  model: "base",
  sources: "shard",
  needsImages: true,
  interClass: false,
});
