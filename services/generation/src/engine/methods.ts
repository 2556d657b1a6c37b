import {
  type ChwImage,
  DIFFUSEMIX_DEFAULTS,
  type DiffusionModel,
  diffII,
  diffuseMixImage,
  fractalBlend,
  type GeneratedImage,
  type GifScoringModel,
  gif,
  halfConcat,
  type InversionCache,
  img2img,
  instructPix2Pix,
  interClassImg2Img,
  invertImages,
  NoisePurpose,
  type RunOptions,
  randomOrientation,
  sampleRng,
  textToImage,
} from "../../../../shared/diffusion/index.js";
import { RpcError } from "../../../../shared/rpc/index.js";
import type { EngineBatch, EngineSample } from "./types.js";

/** What a method run needs besides the model and the batch. */
export interface MethodContext extends RunOptions {
  readonly inversionCache: InversionCache;
  /** GIF's scorer for the batch's CLIP folder and classes. */
  readonly scoring: () => Promise<GifScoringModel>;
}

function image(sample: EngineSample): ChwImage {
  if (!sample.image) throw new RpcError("internal", `sample ${sample.index} has no source image`);
  return sample.image;
}

function requireEncoder(model: DiffusionModel, method: string): void {
  if (!model.vaeEncoder) {
    throw new RpcError("failed_precondition", `${method} needs a VAE encoder; this model has none`);
  }
}

/** Edit → optional half concatenation with the source and fractal blend, as DiffuseMix mixes. */
function mixed(
  edited: GeneratedImage,
  sample: EngineSample,
  mix: Extract<EngineBatch["method"], { kind: "instruct_edit" }>["mix"],
): ChwImage {
  if (!mix) return edited.image;
  const key = { seed: sample.seed, index: sample.index };
  const { halfConcat: concat, fractalAlpha, fractals } = mix;
  const blendWidth = mix.blendWidth ?? DIFFUSEMIX_DEFAULTS.blendWidth;
  if (concat && fractalAlpha > 0) {
    return diffuseMixImage(image(sample), edited.image, key, { fractals, blendWidth, alpha: fractalAlpha });
  }
  if (concat) return halfConcat(image(sample), edited.image, randomOrientation(key), blendWidth);
  if (fractalAlpha > 0) {
    const fractal = fractals[sampleRng(key, NoisePurpose.fractal).nextInt(fractals.length)];
    return fractalBlend(edited.image, fractal, fractalAlpha);
  }
  return edited.image;
}

/**
 * Runs the batch's method on `model` (every sample already planned: prompts, classes, source images at the
 * output size) and returns one image per sample, in order.
 */
export async function runMethod(
  model: DiffusionModel,
  batch: EngineBatch,
  context: MethodContext,
): Promise<GeneratedImage[]> {
  const { method, samples } = batch;
  const run = { signal: context.signal, onProgress: context.onProgress };
  const sampling = {
    ...batch.sampling,
    scheduler: batch.sampling.scheduler && model.scheduler(batch.sampling.scheduler),
  };
  const base = (s: EngineSample) => ({
    seed: s.seed,
    index: s.index,
    prompt: s.prompt,
    negativePrompt: s.negativePrompt,
  });
  switch (method.kind) {
    case "text_to_image":
      return textToImage(
        model,
        samples.map((s) => ({ ...base(s), label: s.label })),
        { ...sampling, ...run, height: method.height, width: method.width },
      );
    case "img2img":
      requireEncoder(model, "img2img");
      return img2img(
        model,
        samples.map((s) => ({ ...base(s), image: image(s), label: s.label })),
        { ...sampling, ...run, strength: method.strength },
      );
    case "inter_class":
      requireEncoder(model, "inter-class img2img");
      return interClassImg2Img(
        model,
        samples.map((s) => ({
          ...base(s),
          image: image(s),
          sourceLabel: s.sourceLabel,
          targetLabel: s.label,
        })),
        { ...sampling, ...run, strength: method.strength },
      );
    case "instruct_edit": {
      requireEncoder(model, "an instruction edit");
      if (model.config.unetInChannels !== 2 * model.config.latentChannels) {
        throw new RpcError(
          "failed_precondition",
          "instruct_edit needs an instruction-edit (InstructPix2Pix-style) model; this one is text-to-image",
        );
      }
      const defaults = method.mix
        ? { steps: DIFFUSEMIX_DEFAULTS.steps, guidanceScale: DIFFUSEMIX_DEFAULTS.guidanceScale }
        : {};
      const edited = await instructPix2Pix(
        model,
        samples.map((s) => ({
          seed: s.seed,
          index: s.index,
          image: image(s),
          instruction: s.prompt,
          negativePrompt: s.negativePrompt,
          label: s.label,
        })),
        {
          steps: sampling.steps ?? defaults.steps,
          guidanceScale: sampling.guidanceScale ?? defaults.guidanceScale,
          scheduler: sampling.scheduler,
          imageGuidanceScale: method.imageGuidanceScale,
          ...run,
        },
      );
      return edited.map((g, i) => ({ ...g, image: mixed(g, samples[i], method.mix) }));
    }
    case "diff_ii": {
      requireEncoder(model, "DDIM inversion");
      const images: ChwImage[] = [];
      const prompts: string[] = [];
      const slot = new Map<ChwImage, number>();
      const add = (img: ChwImage, prompt: string) => {
        let k = slot.get(img);
        if (k === undefined) {
          k = images.length;
          slot.set(img, k);
          images.push(img);
          prompts.push(prompt);
        }
        return k;
      };
      const pairs = samples.map((s) => {
        if (!s.partner) throw new RpcError("internal", `sample ${s.index} has no partner image`);
        const prompt = s.inversionPrompt ?? s.prompt;
        return [add(image(s), prompt), add(s.partner, prompt)] as const;
      });
      const inverted = await invertImages(
        model,
        images.map((img, k) => ({ image: img, prompt: prompts[k] })),
        { steps: method.inversionSteps, cache: context.inversionCache, ...run },
      );
      return diffII(
        model,
        samples.map((s, i) => ({
          ...base(s),
          anchor: inverted[pairs[i][0]],
          partner: inverted[pairs[i][1]],
          suffixPrompt: s.suffixPrompt ?? s.prompt,
          label: s.label,
        })),
        { ...sampling, ...run, splitRatio: method.splitRatio },
      );
    }
    case "gif": {
      requireEncoder(model, "GIF");
      const scoring = await context.scoring();
      return gif(
        model,
        samples.map((s) => ({ ...base(s), image: image(s), label: s.label, scorerClass: s.label })),
        {
          ...sampling,
          ...run,
          scoring,
          strength: method.strength,
          epsilon: method.epsilon,
          stepSize: method.stepSize,
        },
      );
    }
  }
}
