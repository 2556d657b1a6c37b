import { defineMode } from "../mode.js";
import { STRENGTH } from "../parameters.js";

/**
 * SDEdit img2img towards a target class drawn uniformly from all classes, the source's own included
 * (Diff-Mix); samples carry `inter_class` for soft labels.
 */
export const img2imgInterClass = defineMode({
  name: "img2img_inter_class",
  protoCase: "img2imgInterClass",
  kind: "inter_class",
  summary: "SDEdit towards a target class drawn uniformly from all classes (it may be the source's own)",
  usedBy: "Diff-Mix",
  parameters: { strength: STRENGTH },
  required: ["strength"],
  model: "base",
  sources: "shard",
  needsImages: true,
  interClass: true,
});
