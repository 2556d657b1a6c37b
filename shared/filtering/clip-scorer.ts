/**
 * The "clip" scorer: how well a synthetic image matches its intended class's prompt under a CLIP-style
 * image–text model (the kit's `clip/` folder: vision_model.onnx, text_model.onnx, config.json), as the
 * softmax over the task's class prompts of logit_scale·cosine, the probability of the intended class. That
 * puts it on the classifier scorer's [0, 1] scale, and it judges an image against the other classes of
 * the task, not against an absolute similarity the small model cannot calibrate. Optionally the score
 * mixes in the cosine similarity to the sample's source image (consistency: an edit that drifted far from
 * its real source scores lower).
 */
import { access, readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { type ImageSet, imageCount, resizeChw } from "../data/index.js";
import { type OnnxComponent, openComponent } from "../diffusion/models/component.js";
import type { SessionSettings } from "../diffusion/models/session.js";
import { type ClipTokenizer, loadClipTokenizer } from "../diffusion/tokenizer/index.js";

/** The subset of a CLIP folder's config.json the scorer reads. */
interface ClipFolderConfig {
  readonly image_size?: number;
  readonly logit_scale?: number;
  readonly pixel_range?: readonly number[];
  readonly image_mean?: readonly number[];
  readonly image_std?: readonly number[];
}

/** Options of {@link clipScores}. */
export interface ClipScoreOptions {
  /** Image embeddings of each sample's source image, [n, dim] (rows of NaN: no source). */
  readonly sourceEmbeddings?: Float32Array;
  /** Weight of source consistency in [0, 1] (default 0: the prompt alone). */
  readonly sourceWeight?: number;
}

function cosine(a: Float32Array, ai: number, b: Float32Array, bi: number, dim: number): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let d = 0; d < dim; d++) {
    const x = a[ai * dim + d];
    const y = b[bi * dim + d];
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  return dot / (Math.sqrt(na * nb) || 1);
}

/**
 * Scores from embeddings, a pure function: per image, softmax_k(logitScale·cos(image, class k)) at its
 * label, then (1 − w)·that + w·max(0, cos(image, source)) where a source is given.
 */
export function clipScores(
  imageEmbeddings: Float32Array,
  classEmbeddings: Float32Array,
  labels: ArrayLike<number>,
  logitScale: number,
  options: ClipScoreOptions = {},
): Float32Array {
  const n = labels.length;
  const dim = imageEmbeddings.length / Math.max(1, n);
  const classes = classEmbeddings.length / dim;
  if (!Number.isInteger(dim) || !Number.isInteger(classes))
    throw new RangeError("embedding sizes do not agree with the label count");
  const w = options.sourceWeight ?? 0;
  if (!(w >= 0 && w <= 1)) throw new RangeError(`sourceWeight must be in [0, 1], got ${w}`);
  const out = new Float32Array(n);
  const logits = new Float64Array(classes);
  for (let i = 0; i < n; i++) {
    let max = -Infinity;
    for (let k = 0; k < classes; k++) {
      logits[k] = logitScale * cosine(imageEmbeddings, i, classEmbeddings, k, dim);
      max = Math.max(max, logits[k]);
    }
    let sum = 0;
    for (let k = 0; k < classes; k++) sum += Math.exp(logits[k] - max);
    const p = Math.exp(logits[labels[i]] - max) / sum;
    const source = options.sourceEmbeddings;
    const similarity = source === undefined ? Number.NaN : cosine(imageEmbeddings, i, source, i, dim);
    out[i] = w > 0 && Number.isFinite(similarity) ? (1 - w) * p + w * Math.max(0, similarity) : p;
  }
  return out;
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/** A CLIP folder opened for scoring: the class prompts embedded once, images embedded on demand. */
export class ClipImageScorer {
  readonly #vision: OnnxComponent;
  readonly #config: ClipFolderConfig;
  /** [classCount, dim] text embeddings of the class prompts. */
  readonly classEmbeddings: Float32Array;
  readonly logitScale: number;
  readonly imageSize: number;

  private constructor(vision: OnnxComponent, config: ClipFolderConfig, classEmbeddings: Float32Array) {
    this.#vision = vision;
    this.#config = config;
    this.classEmbeddings = classEmbeddings;
    this.logitScale = config.logit_scale ?? 100;
    this.imageSize = config.image_size ?? 224;
  }

  /**
   * Opens `folder` and embeds one prompt per class. The tokenizer is the folder's `tokenizer/`, else the
   * model folder's beside it (the kit's CLIP shares the diffusion model's).
   */
  static async open(
    folder: string,
    classPrompts: readonly string[],
    settings: SessionSettings = {},
  ): Promise<ClipImageScorer> {
    const config = JSON.parse(await readFile(join(folder, "config.json"), "utf8")) as ClipFolderConfig;
    const own = join(folder, "tokenizer");
    const tokenizer: ClipTokenizer = await loadClipTokenizer(
      (await exists(own)) ? own : join(dirname(folder), "tokenizer"),
    );
    const text = await openComponent("clip_text", join(folder, "text_model.onnx"), settings);
    let embeddings: Float32Array;
    try {
      const ids = text.io.inputs[0];
      const length = ids.shape[1];
      const encoded = tokenizer.encodeBatch(
        classPrompts,
        typeof length === "number" ? { maxLength: length } : {},
      );
      const out = await text.run({
        [ids.name]: { data: encoded.inputIds, dims: [encoded.batchSize, encoded.sequenceLength] },
      });
      embeddings = (out.text_embeds ?? Object.values(out)[0]).data;
    } finally {
      await text.release();
    }
    const vision = await openComponent("clip_vision", join(folder, "vision_model.onnx"), settings);
    return new ClipImageScorer(vision, config, embeddings);
  }

  /** [n, dim] image embeddings of a set (any size and channel count: resized, gray repeated to RGB). */
  async embed(set: Pick<ImageSet, "channels" | "height" | "width" | "images" | "labels">, batch = 64) {
    const n = imageCount(set as ImageSet);
    const s = this.imageSize;
    const plane = s * s;
    const { mean, std } = this.#normalisation();
    const input = this.#vision.io.inputs[0];
    let out: Float32Array | undefined;
    for (let first = 0; first < n; first += batch) {
      const count = Math.min(batch, n - first);
      const pixels = new Float32Array(count * 3 * plane);
      const per = set.channels * set.height * set.width;
      for (let j = 0; j < count; j++) {
        const src = set.images.subarray((first + j) * per, (first + j + 1) * per);
        const resized = set.height === s && set.width === s ? src : resizeChw(src, set, s, s);
        for (let c = 0; c < 3; c++) {
          const from = set.channels === 1 ? 0 : c;
          for (let p = 0; p < plane; p++)
            pixels[(j * 3 + c) * plane + p] = (resized[from * plane + p] - mean[c]) / std[c];
        }
      }
      const result = await this.#vision.run({ [input.name]: { data: pixels, dims: [count, 3, s, s] } });
      const embeds = (result.image_embeds ?? Object.values(result)[0]).data;
      out ??= new Float32Array(n * (embeds.length / count));
      out.set(embeds, first * (embeds.length / count));
    }
    return out ?? new Float32Array(0);
  }

  /** Scores a set whose labels are the intended classes (see {@link clipScores}). */
  async score(
    set: Pick<ImageSet, "channels" | "height" | "width" | "images" | "labels">,
    options: {
      sources?: Pick<ImageSet, "channels" | "height" | "width" | "images" | "labels">;
      sourceWeight?: number;
    } = {},
  ): Promise<Float32Array> {
    const images = await this.embed(set);
    const sourceEmbeddings = options.sources === undefined ? undefined : await this.embed(options.sources);
    return clipScores(images, this.classEmbeddings, set.labels, this.logitScale, {
      sourceEmbeddings,
      sourceWeight: options.sourceWeight,
    });
  }

  /** Releases the image session. */
  release(): Promise<void> {
    return this.#vision.release();
  }

  /** Pixel mean and std: explicit, or from `pixel_range` [lo, hi] (x − mean)/std maps [0, 1] onto. */
  #normalisation(): { mean: readonly number[]; std: readonly number[] } {
    const c = this.#config;
    if (c.image_mean && c.image_std) return { mean: c.image_mean, std: c.image_std };
    const range = c.pixel_range ?? [-1, 1];
    const std = 1 / (range[1] - range[0]);
    const mean = -range[0] * std;
    return { mean: [mean, mean, mean], std: [std, std, std] };
  }
}
