import type { DecodedImage } from "../../../shared/data/index.js";
import { resizeChw } from "../../../shared/data/index.js";
import {
  type ChwImage,
  DEFAULT_STRENGTH,
  DIFFUSEMIX_PROMPTS,
  drawDiffuseMixPrompt,
  drawGifPrompt,
  drawSuffixes,
  drawTargetClass,
  type SampleKey,
  sampleRng,
} from "../../../shared/diffusion/index.js";
import { decodeImageData, invalidField } from "../../../shared/service/wire/index.js";
import type { EngineMethod, EngineSample, ModelInfo } from "./engine/types.js";
import { renderFractals } from "./fractals.js";
import type { ShardRequest } from "./request.js";
import { flipHorizontal, rotate } from "./transforms.js";

/**
 * Purposes of the per-sample random streams the service draws from (besides those of shared/diffusion's
 * NoisePurpose, 1–9): each draw depends only on (seed, sample index), so a sample is planned the same in
 * any shard, batch or retry.
 */
export const PLAN_PURPOSE = Object.freeze({
  template: 0x101,
  partner: 0x102,
  rotation: 0x103,
  flip: 0x104,
});

/** A planned sample: what the engine needs and what the response reports. */
export interface PlannedSample extends EngineSample {
  /** The real image it derives from (source_index in the job's real set). */
  readonly sourceIndex: number;
  /** Output size: samples of one batch share it. */
  readonly height: number;
  readonly width: number;
  /** Inter-class samples: the edit strength, for soft labels. */
  readonly interClassStrength?: number;
}

function fill(template: string, phrase: string): string {
  return template.replaceAll("{}", phrase);
}

function withChannels(image: DecodedImage, channels: number): ChwImage {
  if (image.channels === channels || channels !== 3) return image;
  const plane = image.height * image.width;
  const data = new Float32Array(3 * plane);
  for (let c = 0; c < 3; c++) data.set(image.data.subarray(0, plane), c * plane);
  return { ...image, data, channels: 3 };
}

/**
 * Plans the samples of one shard: which source each derives from (`index / samples_per_source`), its
 * label and prompt (template, inter-class target, instruction, Diff-II partner and suffix, GIF's rotation
 * and flip — every draw from the sample's own stream), and the source image at the output size. Sources
 * are decoded once per shard.
 */
export class SamplePlanner {
  readonly #req: ShardRequest;
  readonly #info: ModelInfo;
  readonly #decoded = new Map<number, Promise<DecodedImage>>();
  readonly #resized = new Map<string, ChwImage>();
  readonly #fractals = new Map<string, Promise<ChwImage[]>>();

  constructor(request: ShardRequest, info: ModelInfo) {
    this.#req = request;
    this.#info = info;
    const needsImages = request.method.kind !== "text_to_image";
    if (needsImages && !info.canEncodeImages) {
      throw invalidField("model.base_model.name", `${request.method.kind} needs a model with a VAE encoder`);
    }
    if (request.method.kind === "instruct_edit" && !info.instructPix2Pix) {
      throw invalidField(
        "model.base_model.name",
        "instruct_edit needs an instruction-edit (InstructPix2Pix-style) model",
      );
    }
    if (request.method.kind !== "instruct_edit" && info.instructPix2Pix) {
      throw invalidField(
        "model.base_model.name",
        `${request.method.kind} needs a text-to-image model, not an instruction-edit one`,
      );
    }
    const f = info.vaeScaleFactor;
    for (const [field, value] of [
      ["sampling.width", request.sampling.width],
      ["sampling.height", request.sampling.height],
    ] as const) {
      if (value !== undefined && value % f !== 0)
        throw invalidField(field, `must be a multiple of ${f} (the VAE factor)`);
    }
  }

  /** Samples to generate, ascending: the shard's range minus the skipped ones. */
  pending(): number[] {
    const { firstSampleIndex, count, skip } = this.#req;
    const out: number[] = [];
    for (let i = firstSampleIndex; i < firstSampleIndex + count; i++) if (!skip.has(i)) out.push(i);
    return out;
  }

  #phrase(label: number): string {
    const c = this.#req.classes[label];
    return c.token || c.name;
  }

  #template(key: SampleKey): string {
    const { templates } = this.#req.sampling;
    return templates.length === 1
      ? templates[0]
      : templates[sampleRng(key, PLAN_PURPOSE.template).nextInt(templates.length)];
  }

  #source(sourceIndex: number) {
    const source = this.#req.sources.get(sourceIndex);
    if (!source) throw invalidField("sources", `the source with source_index ${sourceIndex} is missing`);
    return source;
  }

  #decode(sourceIndex: number): Promise<DecodedImage> {
    let image = this.#decoded.get(sourceIndex);
    if (!image) {
      const source = this.#source(sourceIndex);
      image = decodeImageData(source.image, `${source.field}.image`);
      this.#decoded.set(sourceIndex, image);
    }
    return image;
  }

  /** The output size of a sample whose source has size `source` (text-to-image: the model's native size). */
  #size(source?: { height: number; width: number }, field?: string): { height: number; width: number } {
    const { sampling } = this.#req;
    const f = this.#info.vaeScaleFactor;
    const native = this.#info.sampleSize * f;
    const size = this.#info.fixedSize ? undefined : source;
    const height = sampling.height ?? size?.height ?? native;
    const width = sampling.width ?? size?.width ?? native;
    if ((height % f !== 0 || width % f !== 0) && field) {
      throw invalidField(
        field,
        `is ${width}×${height}; not a multiple of ${f}: set sampling.width and sampling.height`,
      );
    }
    return { height, width };
  }

  /** Source `sourceIndex` at the output size, in `channels` (3 for edits, else its own). */
  async #image(
    sourceIndex: number,
    channels?: number,
  ): Promise<{ image: ChwImage; height: number; width: number }> {
    const decoded = await this.#decode(sourceIndex);
    const { height, width } = this.#size(decoded, `${this.#source(sourceIndex).field}.image`);
    const key = `${sourceIndex}:${height}x${width}:${channels ?? ""}`;
    let image = this.#resized.get(key);
    if (!image) {
      const base = withChannels(decoded, channels ?? decoded.channels);
      image =
        base.height === height && base.width === width
          ? base
          : { data: resizeChw(base.data, base, height, width), channels: base.channels, height, width };
      this.#resized.set(key, image);
    }
    return { image, height, width };
  }

  /** Plans sample `index`. */
  async plan(index: number): Promise<PlannedSample> {
    const req = this.#req;
    const key = { seed: req.seed, index };
    const sourceIndex = Math.floor(index / req.samplesPerSource);
    const source = this.#source(sourceIndex);
    const label = source.label;
    const negativePrompt = req.sampling.negativePrompt;
    const common = { index, seed: req.seed, sourceIndex, negativePrompt, sourceLabel: label };
    const m = req.method;
    switch (m.kind) {
      case "text_to_image":
        return { ...common, label, prompt: fill(this.#template(key), this.#phrase(label)), ...this.#size() };
      case "img2img":
        return {
          ...common,
          label,
          prompt: fill(this.#template(key), this.#phrase(label)),
          ...(await this.#image(sourceIndex)),
        };
      case "inter_class": {
        const target = drawTargetClass(key, req.classes.length);
        return {
          ...common,
          label: target,
          prompt: fill(this.#template(key), this.#phrase(target)),
          interClassStrength: m.strength ?? DEFAULT_STRENGTH,
          ...(await this.#image(sourceIndex)),
        };
      }
      case "instruct_edit":
        return {
          ...common,
          label,
          prompt: drawDiffuseMixPrompt(key, m.instructions.length > 0 ? m.instructions : DIFFUSEMIX_PROMPTS),
          ...(await this.#image(sourceIndex, 3)),
        };
      case "diff_ii": {
        const others = [...req.sources]
          .filter(([i, s]) => s.label === label && i !== sourceIndex)
          .map(([i]) => i)
          .sort((a, b) => a - b);
        // A class with one image (a 1-shot task) interpolates the anchor with itself, as the reference
        // does (DiffDA-Eval draws the partner from the whole class): the circle is undefined, the anchor's
        // inverted latent is used as is, and the samples differ by their suffix prompts.
        const partners = others.length > 0 ? others : [sourceIndex];
        const partnerIndex = partners[sampleRng(key, PLAN_PURPOSE.partner).nextInt(partners.length)];
        const anchor = await this.#image(sourceIndex);
        const partner = await this.#image(partnerIndex);
        if (partner.height !== anchor.height || partner.width !== anchor.width) {
          throw invalidField(
            "sampling.width",
            "Diff-II partners differ in size: set sampling.width and sampling.height",
          );
        }
        const prompt = fill(this.#template(key), this.#phrase(label));
        let suffixPrompt = prompt;
        if (m.suffixes.length > 0) {
          const order = drawSuffixes({ seed: req.seed, index: sourceIndex }, m.suffixes, m.suffixes.length);
          suffixPrompt = `${prompt} ${order[(index % req.samplesPerSource) % order.length]}`;
        }
        return {
          ...common,
          label,
          prompt,
          suffixPrompt,
          inversionPrompt: fill(req.sampling.templates[0], this.#phrase(label)),
          partner: partner.image,
          ...anchor,
        };
      }
      case "gif": {
        const { image, height, width } = await this.#image(sourceIndex);
        let transformed = image;
        if (m.rotationDegrees > 0) {
          const u = sampleRng(key, PLAN_PURPOSE.rotation).nextFloat();
          transformed = rotate(transformed, (2 * u - 1) * m.rotationDegrees);
        }
        if (m.horizontalFlip && sampleRng(key, PLAN_PURPOSE.flip).nextFloat() < 0.5)
          transformed = flipHorizontal(transformed);
        const prompt = req.sampling.defaultTemplates
          ? drawGifPrompt(key, this.#phrase(label))
          : fill(this.#template(key), this.#phrase(label));
        return { ...common, label, prompt, image: transformed, height, width };
      }
    }
  }

  /** The engine's method for a batch of output size `height`×`width`. */
  async method(height: number, width: number, clipDir?: string): Promise<EngineMethod> {
    const m = this.#req.method;
    switch (m.kind) {
      case "text_to_image":
        return { kind: "text_to_image", height, width };
      case "img2img":
      case "inter_class":
        return { kind: m.kind, strength: m.strength };
      case "instruct_edit": {
        if (!m.halfConcat && m.fractalAlpha === 0)
          return { kind: "instruct_edit", imageGuidanceScale: m.imageGuidanceScale };
        return {
          kind: "instruct_edit",
          imageGuidanceScale: m.imageGuidanceScale,
          mix: {
            halfConcat: m.halfConcat,
            blendWidth: m.blendWidth,
            fractalAlpha: m.fractalAlpha,
            fractals: m.fractalAlpha > 0 ? await this.#fractalsAt(height, width) : [],
          },
        };
      }
      case "diff_ii":
        return { kind: "diff_ii", inversionSteps: m.inversionSteps, splitRatio: m.splitRatio };
      case "gif":
        if (!clipDir)
          throw invalidField("clip_guided_perturbation.clip_model.name", "no CLIP model to score with");
        return {
          kind: "gif",
          strength: m.strength,
          epsilon: m.epsilon,
          stepSize: m.stepSize,
          clipDir,
          classPrompts: this.#req.classes.map((c) => `a photo of a ${c.name}`),
        };
    }
  }

  #fractalsAt(height: number, width: number): Promise<ChwImage[]> {
    const key = `${height}x${width}`;
    let fractals = this.#fractals.get(key);
    if (!fractals) {
      const m = this.#req.method;
      const images = m.kind === "instruct_edit" ? m.fractalImages : [];
      fractals =
        images.length > 0
          ? Promise.all(
              images.map((img, i) =>
                decodeImageData(img, `instruct_edit.fractal_images[${i}]`, { channels: 3, height, width }),
              ),
            )
          : Promise.resolve(renderFractals(this.#req.seed, height, width));
      this.#fractals.set(key, fractals);
    }
    return fractals;
  }
}
