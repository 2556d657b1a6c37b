import { defineMode } from "../mode.js";
import { STRENGTH } from "../parameters.js";

/** SDEdit img2img from a real image with a prompt of its own class (Real-Guidance, DA-Fusion, Diff-Aug). */
export const img2imgIntraClass = defineMode({
  name: "img2img_intra_class",
  protoCase: "img2imgIntraClass",
  kind: "img2img",
  summary: "SDEdit: noise the real image to strength *s*, denoise with its own class prompt",
  usedBy: "Real-Guidance, DA-Fusion, Diff-Aug",
  parameters: { strength: STRENGTH },
  required: ["strength"],
  model: "base",
  sources: "shard",
  needsImages: true,
  interClass: false,
});
