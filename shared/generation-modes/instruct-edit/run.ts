import {
  type ChwImage,
  DIFFUSEMIX_DEFAULTS,
  DIFFUSEMIX_PROMPTS,
  diffuseMixImage,
  drawDiffuseMixPrompt,
  fractalBlend,
  type GeneratedImage,
  halfConcat,
  instructPix2Pix,
  NoisePurpose,
  randomOrientation,
  sampleRng,
} from "../../diffusion/index.js";
import type { ImageData } from "../../gen/diffda/common/v1/image_pb.js";
import { RpcError } from "../../rpc/index.js";
import { countField } from "../../service/wire/fields.js";
import { defineRunner, type RunSample } from "../runtime.js";
import { sourceImage } from "../source.js";
import { renderFractals } from "./fractals.js";
import { instructEdit } from "./spec.js";

interface Resolved {
  readonly instructions: readonly string[];
  readonly imageGuidanceScale?: number;
  readonly halfConcat: boolean;
  readonly blendWidth?: number;
  readonly fractalAlpha: number;
  readonly fractalImages: readonly ImageData[];
}

/** DiffuseMix mixing after the edit; absent: the plain InstructPix2Pix edit. */
interface Mix {
  readonly halfConcat: boolean;
  readonly blendWidth?: number;
  readonly fractalAlpha: number;
  readonly fractals: readonly ChwImage[];
}

interface Params {
  readonly imageGuidanceScale?: number;
  readonly mix?: Mix;
}

/** Edit → optional half concatenation with the source and fractal blend, as DiffuseMix mixes. */
function mixed(edited: GeneratedImage, sample: RunSample, mix: Mix | undefined): ChwImage {
  if (!mix) return edited.image;
  const key = { seed: sample.seed, index: sample.index };
  const { halfConcat: concat, fractalAlpha, fractals } = mix;
  const blendWidth = mix.blendWidth ?? DIFFUSEMIX_DEFAULTS.blendWidth;
  if (concat && fractalAlpha > 0) {
    return diffuseMixImage(sourceImage(sample), edited.image, key, {
      fractals,
      blendWidth,
      alpha: fractalAlpha,
    });
  }
  if (concat) return halfConcat(sourceImage(sample), edited.image, randomOrientation(key), blendWidth);
  if (fractalAlpha > 0) {
    const fractal = fractals[sampleRng(key, NoisePurpose.fractal).nextInt(fractals.length)];
    return fractalBlend(edited.image, fractal, fractalAlpha);
  }
  return edited.image;
}

/** Instruction edit (+ DiffuseMix's half concatenation and fractal blend). */
export const instructEditRunner = defineRunner({
  spec: instructEdit,
  resolve(v, message): Resolved {
    const fractalImages = message.fractalImages as readonly ImageData[];
    countField(fractalImages, "instruct_edit.fractal_images", { max: 64 });
    return {
      instructions: (v.instructions as string[] | undefined) ?? [],
      imageGuidanceScale: v.imageGuidanceScale as number | undefined,
      halfConcat: (v.halfConcat as boolean | undefined) ?? false,
      blendWidth: v.blendWidth as number | undefined,
      fractalAlpha: (v.fractalAlpha as number | undefined) ?? 0,
      fractalImages,
    };
  },
  async plan(r, p) {
    return {
      label: p.sourceLabel,
      prompt: drawDiffuseMixPrompt(p.key, r.instructions.length > 0 ? r.instructions : DIFFUSEMIX_PROMPTS),
      ...(await p.image(p.sourceIndex, 3)),
    };
  },
  async engine(r, b): Promise<Params> {
    if (!r.halfConcat && r.fractalAlpha === 0) return { imageGuidanceScale: r.imageGuidanceScale };
    const shape = { channels: 3 as const, height: b.height, width: b.width };
    // Decoded (or rendered) once per output size and shard.
    const fractals =
      r.fractalAlpha === 0
        ? []
        : await b.cached(`fractals:${b.height}x${b.width}`, async () =>
            r.fractalImages.length > 0
              ? Promise.all(
                  r.fractalImages.map((img, i) => b.decode(img, `instruct_edit.fractal_images[${i}]`, shape)),
                )
              : renderFractals(b.seed, b.height, b.width),
          );
    return {
      imageGuidanceScale: r.imageGuidanceScale,
      mix: { halfConcat: r.halfConcat, blendWidth: r.blendWidth, fractalAlpha: r.fractalAlpha, fractals },
    };
  },
  async run(model, samples, params, c) {
    if (model.config.unetInChannels !== 2 * model.config.latentChannels) {
      throw new RpcError(
        "failed_precondition",
        "instruct_edit needs an instruction-edit (InstructPix2Pix-style) model; this one is text-to-image",
      );
    }
    const defaults = params.mix
      ? { steps: DIFFUSEMIX_DEFAULTS.steps, guidanceScale: DIFFUSEMIX_DEFAULTS.guidanceScale }
      : {};
    const edited = await instructPix2Pix(
      model,
      samples.map((s) => ({
        seed: s.seed,
        index: s.index,
        image: sourceImage(s),
        instruction: s.prompt,
        negativePrompt: s.negativePrompt,
        label: s.label,
      })),
      {
        steps: c.sampling.steps ?? defaults.steps,
        guidanceScale: c.sampling.guidanceScale ?? defaults.guidanceScale,
        scheduler: c.sampling.scheduler,
        imageGuidanceScale: params.imageGuidanceScale,
        signal: c.signal,
        onProgress: c.onProgress,
      },
    );
    return edited.map((g, i) => ({ ...g, image: mixed(g, samples[i], params.mix) }));
  },
});
