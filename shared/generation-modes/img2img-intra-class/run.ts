import { img2img } from "../../diffusion/index.js";
import { defineRunner } from "../runtime.js";
import { sampleBase, sourceImage } from "../source.js";
import { img2imgIntraClass } from "./spec.js";

interface Resolved {
  readonly strength?: number;
}

/** SDEdit within the source's class. */
export const img2imgIntraClassRunner = defineRunner({
  spec: img2imgIntraClass,
  resolve: (v): Resolved => ({ strength: v.strength as number | undefined }),
  async plan(_resolved, p) {
    return { label: p.sourceLabel, prompt: p.prompt(p.sourceLabel), ...(await p.image(p.sourceIndex)) };
  },
  engine: async (r: Resolved) => ({ strength: r.strength }),
  run: (model, samples, params, c) =>
    img2img(
      model,
      samples.map((s) => ({ ...sampleBase(s), image: sourceImage(s), label: s.label })),
      { ...c.sampling, signal: c.signal, onProgress: c.onProgress, strength: params.strength },
    ),
});
