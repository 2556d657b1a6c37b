import { DEFAULT_STRENGTH, drawTargetClass, interClassImg2Img } from "../../diffusion/index.js";
import { defineRunner } from "../runtime.js";
import { sampleBase, sourceImage } from "../source.js";
import { img2imgInterClass } from "./spec.js";

interface Resolved {
  readonly strength?: number;
}

/** SDEdit towards a target class drawn per sample; samples report the strength for soft labels. */
export const img2imgInterClassRunner = defineRunner({
  spec: img2imgInterClass,
  resolve: (v): Resolved => ({ strength: v.strength as number | undefined }),
  async plan(r, p) {
    const target = drawTargetClass(p.key, p.classes.length);
    return {
      label: target,
      prompt: p.prompt(target),
      interClassStrength: r.strength ?? DEFAULT_STRENGTH,
      ...(await p.image(p.sourceIndex)),
    };
  },
  engine: async (r: Resolved) => ({ strength: r.strength }),
  run: (model, samples, params, c) =>
    interClassImg2Img(
      model,
      samples.map((s) => ({
        ...sampleBase(s),
        image: sourceImage(s),
        sourceLabel: s.sourceLabel,
        targetLabel: s.label,
      })),
      { ...c.sampling, signal: c.signal, onProgress: c.onProgress, strength: params.strength },
    ),
});
