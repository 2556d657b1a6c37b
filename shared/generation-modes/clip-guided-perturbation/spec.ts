import { defineMode } from "../mode.js";
import { flag, number, STRENGTH } from "../parameters.js";

/**
 * Img2img whose latents are perturbed, once, by a signed-gradient step that raises a CLIP-based
 * informativeness score, then projected into an L-infinity ball around the original latents (GIF).
 */
export const clipGuidedPerturbation = defineMode({
  name: "clip_guided_perturbation",
  protoCase: "clipGuidedPerturbation",
  kind: "gif",
  summary:
    "img2img from a rotated (15°) and flipped source, then one signed-gradient step (size 0.1) on the latents that raises the CLIP model's uncertainty while keeping its predicted class, projected into an L∞ ball of radius ε = 0.8; prompts mix a domain phrase and an adjective",
  usedBy: "GIF",
  parameters: {
    strength: STRENGTH,
    epsilon: number(
      { min: 0, max: 100, exclusiveMin: true },
      "GIF: L∞ radius of the latent perturbation (paper: 0.8)",
    ),
    stepSize: number({ min: 0, max: 100, exclusiveMin: true }, "GIF: signed-gradient step (paper: 0.1)"),
    rotationDegrees: number({ min: 0, max: 180 }, "GIF: random rotation of the source"),
    horizontalFlip: flag("GIF: random horizontal flip of the source"),
  },
  required: ["strength"],
  model: "base",
  sources: "shard",
  needsImages: true,
  interClass: false,
});
