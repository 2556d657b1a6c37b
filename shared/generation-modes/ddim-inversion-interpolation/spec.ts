import { defineMode } from "../mode.js";
import { integer, number, texts } from "../parameters.js";

/**
 * DDIM inversion of real images, spherical interpolation on the circle through two inverted latents of the
 * same class, then DDIM denoising with a two-stage prompt (Diff-II).
 */
export const ddimInversionInterpolation = defineMode({
  name: "ddim_inversion_interpolation",
  protoCase: "ddimInversionInterpolation",
  kind: "diff_ii",
  summary:
    "DDIM-invert every training image (200 steps, guidance 1), interpolate two same-class latents along a great circle (random angle), denoise 25 DDIM steps at guidance 7.5 with a scene-suffixed prompt for the first 30 % of the schedule and the plain class prompt after",
  usedBy: "Diff-II",
  parameters: {
    inversionSteps: integer({ min: 1, max: 1000 }, "Diff-II: DDIM inversion steps (paper: 200)"),
    inversionGuidanceScale: number({ min: 0, max: 50 }, "Diff-II: guidance while inverting"),
    splitRatio: number(
      { min: 0, max: 1 },
      "Diff-II: share of the schedule using the suffixed prompt (paper: 0.3)",
    ),
    promptSuffixes: texts(64, 200, "Diff-II: scene phrases for the first stage"),
    maxAngle: number({ min: 0, max: 6.2832, exclusiveMin: true }, "Diff-II: largest slerp angle, radians"),
  },
  required: [],
  model: "base",
  // Partners are drawn from the whole class, so every shard carries every training image.
  sources: "all",
  needsImages: true,
  interClass: false,
});
