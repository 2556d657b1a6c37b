import { textToImage as textToImagePipeline } from "../../diffusion/index.js";
import { defineRunner } from "../runtime.js";
import { textToImage } from "./spec.js";

/** Text-to-image: the class prompt at the model's native size (or the requested one). */
export const textToImageRunner = defineRunner({
  spec: textToImage,
  resolve: () => ({}),
  async plan(_resolved, p) {
    return { label: p.sourceLabel, prompt: p.prompt(p.sourceLabel), ...p.nativeSize() };
  },
  engine: async (_resolved, b) => ({ height: b.height, width: b.width }),
  run: (model, samples, params, c) =>
    textToImagePipeline(
      model,
      samples.map((s) => ({
        seed: s.seed,
        index: s.index,
        prompt: s.prompt,
        negativePrompt: s.negativePrompt,
        label: s.label,
      })),
      {
        ...c.sampling,
        signal: c.signal,
        onProgress: c.onProgress,
        height: params.height,
        width: params.width,
      },
    ),
});
