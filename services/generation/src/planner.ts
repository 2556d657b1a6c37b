import type { DecodedImage } from "../../../shared/data/index.js";
import { resizeChw } from "../../../shared/data/index.js";
import { type ChwImage, type SampleKey, sampleRng } from "../../../shared/diffusion/index.js";
import { PLAN_PURPOSE } from "../../../shared/generation-modes/plan-purpose.js";
import type { BatchContext, PlanContext } from "../../../shared/generation-modes/runtime.js";
import { decodeImageData, invalidField, withChannels } from "../../../shared/service/wire/index.js";
import type { EngineMethod, EngineSample, ModelInfo } from "./engine/types.js";
import type { ShardRequest } from "./request.js";

export { PLAN_PURPOSE };

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

/** A source at the model's channel count: gray sources are repeated to RGB for an RGB model, nothing else changes. */
function atModelChannels(image: DecodedImage, channels: number): ChwImage {
  return withChannels(image, channels === 3 ? 3 : undefined);
}

/**
 * Plans the samples of one shard: which source each derives from (`index / samples_per_source`), then the
 * mode's own plan (label, prompt, images: shared/generation-modes/<mode>/run.ts) with the template, the
 * class phrase and the source image at the output size as this planner provides them. Every draw is from
 * the sample's own stream; sources are decoded once per shard.
 */
export class SamplePlanner {
  readonly #req: ShardRequest;
  readonly #info: ModelInfo;
  readonly #decoded = new Map<number, Promise<DecodedImage>>();
  readonly #resized = new Map<string, ChwImage>();
  readonly #cached = new Map<string, Promise<unknown>>();

  constructor(request: ShardRequest, info: ModelInfo) {
    this.#req = request;
    this.#info = info;
    const { spec } = request.method.runner;
    if (spec.needsImages && !info.canEncodeImages) {
      throw invalidField("model.base_model.name", `${request.method.kind} needs a model with a VAE encoder`);
    }
    if (spec.model === "instruct" && !info.instructPix2Pix) {
      throw invalidField(
        "model.base_model.name",
        `${request.method.kind} needs an instruction-edit (InstructPix2Pix-style) model`,
      );
    }
    if (spec.model === "base" && info.instructPix2Pix) {
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
      const base = atModelChannels(decoded, channels ?? decoded.channels);
      image =
        base.height === height && base.width === width
          ? base
          : { data: resizeChw(base.data, base, height, width), channels: base.channels, height, width };
      this.#resized.set(key, image);
    }
    return { image, height, width };
  }

  /** Plans sample `index`: the mode plans label, prompt and images; the rest is common to every mode. */
  async plan(index: number): Promise<PlannedSample> {
    const req = this.#req;
    const key = { seed: req.seed, index };
    const sourceIndex = Math.floor(index / req.samplesPerSource);
    const source = this.#source(sourceIndex);
    const context: PlanContext = {
      key,
      index,
      seed: req.seed,
      samplesPerSource: req.samplesPerSource,
      sourceIndex,
      sourceLabel: source.label,
      classes: req.classes,
      templates: req.sampling.templates,
      defaultTemplates: req.sampling.defaultTemplates,
      phrase: (label) => this.#phrase(label),
      prompt: (label) => fill(this.#template(key), this.#phrase(label)),
      sourceLabels: () => new Map([...req.sources].map(([i, s]) => [i, s.label])),
      image: (i, channels) => this.#image(i, channels),
      nativeSize: () => this.#size(),
    };
    const { runner, resolved } = req.method;
    const planned = await runner.plan(resolved, context);
    return {
      index,
      seed: req.seed,
      sourceIndex,
      negativePrompt: req.sampling.negativePrompt,
      sourceLabel: source.label,
      ...planned,
    };
  }

  /** The engine's method for a batch of output size `height`×`width`. */
  async method(height: number, width: number, clipDir?: string): Promise<EngineMethod> {
    const req = this.#req;
    const context: BatchContext = {
      height,
      width,
      seed: req.seed,
      classes: req.classes,
      clipDir,
      decode: (image, field, shape) => decodeImageData(image, field, shape),
      cached: <T>(key: string, make: () => Promise<T>) => {
        let value = this.#cached.get(key);
        if (!value) {
          value = make();
          this.#cached.set(key, value);
        }
        return value as Promise<T>;
      },
    };
    const { kind, runner, resolved } = req.method;
    const params = (await runner.engine(resolved, context)) as Readonly<Record<string, unknown>>;
    return { ...params, kind };
  }
}
