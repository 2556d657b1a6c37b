import { drawGifPrompt, gif, sampleRng } from "../../diffusion/index.js";
import type { ModelRef } from "../../gen/diffda/common/v1/model_pb.js";
import { invalidField } from "../../service/wire/fields.js";
import { PLAN_PURPOSE } from "../plan-purpose.js";
import { defineRunner } from "../runtime.js";
import { sampleBase, sourceImage } from "../source.js";
import { flipHorizontal, rotate } from "../transforms.js";
import { clipGuidedPerturbation } from "./spec.js";

interface Resolved {
  readonly strength?: number;
  readonly epsilon?: number;
  readonly stepSize?: number;
  /** The folder of a CLIP model the request named; undefined: the base model's own `clip/`. */
  readonly clipDir?: string;
  readonly rotationDegrees: number;
  readonly horizontalFlip: boolean;
}

interface Params {
  readonly strength?: number;
  readonly epsilon?: number;
  readonly stepSize?: number;
  /** Folder of the CLIP-style scorer (vision_model.onnx, text_model.onnx, config.json). */
  readonly clipDir: string;
  /** One scorer prompt per class, in label order. */
  readonly classPrompts: readonly string[];
}

/** GIF: img2img from a rotated and flipped source whose latents take one CLIP-guided perturbation step. */
export const clipGuidedPerturbationRunner = defineRunner({
  spec: clipGuidedPerturbation,
  resolve(v, message, context): Resolved {
    const clipName = (message.clipModel as ModelRef | undefined)?.name ?? "";
    return {
      strength: v.strength as number | undefined,
      epsilon: v.epsilon as number | undefined,
      stepSize: v.stepSize as number | undefined,
      clipDir:
        clipName === ""
          ? undefined
          : context.resolveModel(clipName, "clip_guided_perturbation.clip_model.name").dir,
      rotationDegrees: (v.rotationDegrees as number | undefined) ?? 0,
      horizontalFlip: (v.horizontalFlip as boolean | undefined) ?? true,
    };
  },
  clipModel: (r) => r.clipDir,
  async plan(r, p) {
    const { image, height, width } = await p.image(p.sourceIndex);
    let transformed = image;
    if (r.rotationDegrees > 0) {
      const u = sampleRng(p.key, PLAN_PURPOSE.rotation).nextFloat();
      transformed = rotate(transformed, (2 * u - 1) * r.rotationDegrees);
    }
    if (r.horizontalFlip && sampleRng(p.key, PLAN_PURPOSE.flip).nextFloat() < 0.5)
      transformed = flipHorizontal(transformed);
    const label = p.sourceLabel;
    const prompt = p.defaultTemplates ? drawGifPrompt(p.key, p.phrase(label)) : p.prompt(label);
    return { label, prompt, image: transformed, height, width };
  },
  async engine(r, b): Promise<Params> {
    if (!b.clipDir)
      throw invalidField("clip_guided_perturbation.clip_model.name", "no CLIP model to score with");
    return {
      strength: r.strength,
      epsilon: r.epsilon,
      stepSize: r.stepSize,
      clipDir: b.clipDir,
      classPrompts: b.classes.map((c) => `a photo of a ${c.name}`),
    };
  },
  async run(model, samples, params, c) {
    const scoring = await c.scoring(params.clipDir, params.classPrompts);
    return gif(
      model,
      samples.map((s) => ({ ...sampleBase(s), image: sourceImage(s), label: s.label, scorerClass: s.label })),
      {
        ...c.sampling,
        signal: c.signal,
        onProgress: c.onProgress,
        scoring,
        strength: params.strength,
        epsilon: params.epsilon,
        stepSize: params.stepSize,
      },
    );
  },
});
