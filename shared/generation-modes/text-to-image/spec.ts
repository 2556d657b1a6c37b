import { defineMode } from "../mode.js";

/** Text-to-image from class prompts with classifier-free guidance; only the sources' labels are used. */
export const textToImage = defineMode({
  name: "text_to_image",
  protoCase: "textToImage",
  kind: "text_to_image",
  summary: "sample from the class prompt alone, no source image",
  usedBy: "baselines and ablations",
  parameters: {},
  required: [],
  model: "base",
  sources: "shard",
  needsImages: false,
  interClass: false,
});
