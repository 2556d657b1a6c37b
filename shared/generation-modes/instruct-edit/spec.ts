import { defineMode } from "../mode.js";
import { flag, integer, number, texts } from "../parameters.js";

/**
 * Instruction edit with an image-conditioned (InstructPix2Pix-style) model, optionally followed by
 * DiffuseMix's half concatenation with the original and a fractal blend.
 */
export const instructEdit = defineMode({
  name: "instruct_edit",
  protoCase: "instructEdit",
  kind: "instruct_edit",
  summary:
    "an instruction-edit model applies one of nine style instructions (100 Euler-ancestral steps, guidance 4.0, image guidance 1.5), the edit is joined half-and-half with the original (20-px seam, horizontal or vertical) and alpha-blended (α 0.2) with a fractal image",
  usedBy: "DiffuseMix",
  parameters: {
    instructions: texts(64, 300, "DiffuseMix: edit instructions, one drawn per sample"),
    imageGuidanceScale: number({ min: 0, max: 50 }, "DiffuseMix: image guidance"),
    halfConcat: flag("DiffuseMix: concatenate half of the edit with the original"),
    blendWidth: integer({ min: 0, max: 512 }, "DiffuseMix: seam blend width in pixels"),
    fractalAlpha: number({ min: 0, max: 1 }, "DiffuseMix: alpha of the fractal blend; 0 disables it"),
  },
  required: [],
  model: "instruct",
  sources: "shard",
  needsImages: true,
  interClass: false,
});
