import { readFile } from "node:fs/promises";
import type * as ort from "onnxruntime-node";
import * as ortRuntime from "onnxruntime-node";
import { resizeChw } from "../../data/index.js";
import { appendGradients } from "../../ml/autodiff/index.js";
import { GraphBuilder } from "../../ml/graph/builder.js";
import { toModel } from "../../ml/graph/model.js";
import { decodeModel, encodeModel, type ModelProto } from "../../ml/onnx/index.js";
import { importGraph } from "../models/graph-import.js";
import { type DiffusionModel, openSession } from "../models/index.js";

/** OpenAI CLIP's pixel normalisation. */
export const CLIP_MEAN = Object.freeze([0.48145466, 0.4578275, 0.40821073] as const);
export const CLIP_STD = Object.freeze([0.26862954, 0.26130258, 0.27577711] as const);

/**
 * A CLIP-style image–text scorer for GIF: an ONNX image encoder (one float input [batch, 3, size, size] of
 * normalised pixels → image embeddings [batch, dim], the output `image_embeds` or the first) and the text
 * embeddings of one prompt per class ("This is a photo of a {label}"), computed once by the matching text
 * encoder. Both are L2-normalised here; logits are `logitScale`·cos.
 */
export interface ClipScorer {
  readonly imageEncoder: ModelProto;
  readonly imageSize: number;
  /** [numClasses, dim] row-major. */
  readonly classEmbeddings: Float32Array;
  readonly numClasses: number;
  /** Default 100 (CLIP's learned scale). */
  readonly logitScale?: number;
  readonly mean?: readonly number[];
  readonly std?: readonly number[];
}

/** Reads a scorer's image encoder from an ONNX file (weights inline). */
export async function loadClipScorer(
  imageEncoderPath: string,
  scorer: Omit<ClipScorer, "imageEncoder">,
): Promise<ClipScorer> {
  return { ...scorer, imageEncoder: decodeModel(await readFile(imageEncoderPath)) };
}

/** Weights of GIF's objective terms (all maximised). */
export interface GifObjectiveWeights {
  /** Informativeness: entropy of the perturbed prediction minus the original's (default 1). */
  readonly entropy?: number;
  /** Class maintenance: log-probability of the original class (default 1). */
  readonly classLogProb?: number;
  /** Diversity: KL(p ‖ mean p of the sample's group) (default 1; 0 drops it). */
  readonly diversity?: number;
}

/** What one scoring run returns (per sample unless noted). */
export interface GifScores {
  /** Class probabilities [batch, numClasses]. */
  readonly probs: Float32Array;
  readonly entropy: Float32Array;
  readonly objective: Float32Array;
  /** ∂(Σ objective)/∂latents, when asked for. */
  readonly gradient?: Float32Array;
}

/** Per-call inputs of the objective beyond the latents. */
export interface GifTargets {
  /** The class each sample must keep (index into the scorer's classes). */
  readonly classes: readonly number[];
  /** The entropy of each sample's original prediction. */
  readonly baseEntropy: Float32Array;
  /** Diversity group of each sample (samples of one source image); the KL is taken to the group's mean. */
  readonly groups: readonly (number | string)[];
}

/** R [to, from] with R·v = bilinear resize of v (half-pixel centres, as `resizeChw`). */
export function resizeMatrix(from: number, to: number): Float32Array {
  const out = new Float32Array(to * from);
  const unit = new Float32Array(from);
  for (let j = 0; j < from; j++) {
    unit.fill(0);
    unit[j] = 1;
    const column = resizeChw(unit, { channels: 1, height: from, width: 1 }, to, 1);
    for (let i = 0; i < to; i++) out[i * from + j] = column[i];
  }
  return out;
}

function normalizedRows(data: Float32Array, rows: number): Float32Array {
  const dim = data.length / rows;
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) {
    let norm = 0;
    for (let i = 0; i < dim; i++) norm += data[r * dim + i] ** 2;
    norm = Math.sqrt(norm) || 1;
    for (let i = 0; i < dim; i++) out[r * dim + i] = data[r * dim + i] / norm;
  }
  return out;
}

/**
 * Builds GIF's differentiable scoring graph for latents of h×w: UNet-space latents → /scaling + shift → the
 * VAE decoder → [0, 1] (clipped) → bilinear resize to the scorer's size (as two MatMuls) → CLIP normalisation
 * → the image encoder → cosine logits → log-softmax; per sample objective =
 * w_H·(H(p) − H₀) + w_c·log p[y] + w_d·KL(p ‖ p̄_group); loss = Σ objective; gradient w.r.t. the latents by
 * the engine's reverse-mode autodiff. Inputs: latents, target (one-hot), base_entropy, group_mean.
 */
export function buildGifScoringGraph(
  vaeDecoder: ModelProto,
  scorer: ClipScorer,
  latent: { channels: number; height: number; width: number; imageHeight: number; imageWidth: number },
  config: { scalingFactor: number; shiftFactor: number },
  weights: GifObjectiveWeights = {},
): ModelProto {
  const b = new GraphBuilder({ name: "gif_scorer" });
  const K = scorer.numClasses;
  const latents = b.input("latents", ["batch", latent.channels, latent.height, latent.width]);
  const target = b.input("target", ["batch", K]);
  const baseEntropy = b.input("base_entropy", ["batch"]);
  const groupMean = b.input("group_mean", ["batch", "batch"]);
  const z = b.op("Add", [
    b.op("Mul", [latents, b.scalar(1 / config.scalingFactor)]),
    b.scalar(config.shiftFactor),
  ]);
  const decoderInput = vaeDecoder.graph.input.find(
    (v) => !vaeDecoder.graph.initializer.some((t) => t.name === v.name),
  );
  if (!decoderInput) throw new Error("the VAE decoder has no input");
  const decoderOutputs = importGraph(b, vaeDecoder, { [decoderInput.name]: z }, "vae_decoder");
  const decoded = decoderOutputs.sample ?? Object.values(decoderOutputs)[0];
  let image = b.op("Clip", [
    b.op("Add", [b.op("Mul", [decoded, b.scalar(0.5)]), b.scalar(0.5)]),
    b.scalar(0),
    b.scalar(1),
  ]);
  const S = scorer.imageSize;
  if (latent.imageHeight !== S)
    image = b.op("MatMul", [b.floats([S, latent.imageHeight], resizeMatrix(latent.imageHeight, S)), image]);
  if (latent.imageWidth !== S) {
    const r = resizeMatrix(latent.imageWidth, S);
    const rt = new Float32Array(r.length);
    for (let i = 0; i < S; i++)
      for (let j = 0; j < latent.imageWidth; j++) rt[j * S + i] = r[i * latent.imageWidth + j];
    image = b.op("MatMul", [image, b.floats([latent.imageWidth, S], rt)]);
  }
  const mean = scorer.mean ?? CLIP_MEAN;
  const std = scorer.std ?? CLIP_STD;
  const pixels = b.op("Mul", [
    b.op("Sub", [image, b.floats([1, 3, 1, 1], mean)]),
    b.floats(
      [1, 3, 1, 1],
      std.map((s) => 1 / s),
    ),
  ]);
  const encoder = scorer.imageEncoder;
  const encoderInput = encoder.graph.input.find(
    (v) => !encoder.graph.initializer.some((t) => t.name === v.name),
  );
  if (!encoderInput) throw new Error("the image encoder has no input");
  const encoded = importGraph(b, encoder, { [encoderInput.name]: pixels }, "image_encoder");
  const embeds = encoded.image_embeds ?? Object.values(encoded)[0];
  const norm = b.op("Sqrt", [
    b.op("Add", [
      b.op("ReduceSum", [b.op("Mul", [embeds, embeds]), b.ints([1])], { keepdims: 1 }),
      b.scalar(1e-12),
    ]),
  ]);
  const classes = normalizedRows(scorer.classEmbeddings, K);
  const dim = classes.length / K;
  const transposed = new Float32Array(classes.length);
  for (let k = 0; k < K; k++) for (let d = 0; d < dim; d++) transposed[d * K + k] = classes[k * dim + d];
  const logits = b.op("Mul", [
    b.op("MatMul", [b.op("Div", [embeds, norm]), b.floats([dim, K], transposed)]),
    b.scalar(scorer.logitScale ?? 100),
  ]);
  const logp = b.op("LogSoftmax", [logits], { axis: 1 });
  const p = b.op("Exp", [logp]);
  const rowSum = (x: string) => b.op("ReduceSum", [x, b.ints([1])], { keepdims: 0 });
  const entropy = b.op("Neg", [rowSum(b.op("Mul", [p, logp]))]);
  const classLogProb = rowSum(b.op("Mul", [target, logp]));
  const groupP = b.op("MatMul", [groupMean, p]);
  const kl = rowSum(
    b.op("Mul", [p, b.op("Sub", [logp, b.op("Log", [b.op("Add", [groupP, b.scalar(1e-12)])])])]),
  );
  const terms = [
    b.op("Mul", [b.op("Sub", [entropy, baseEntropy]), b.scalar(weights.entropy ?? 1)]),
    b.op("Mul", [classLogProb, b.scalar(weights.classLogProb ?? 1)]),
  ];
  if ((weights.diversity ?? 1) !== 0) terms.push(b.op("Mul", [kl, b.scalar(weights.diversity ?? 1)]));
  const objective = b.op("Sum", terms);
  const loss = b.op("ReduceSum", [objective], { keepdims: 0 });
  b.output(p, "probs");
  b.output(entropy, "entropy");
  b.output(objective, "objective");
  appendGradients(b.graph, { loss, wrt: ["latents"], exposePrefix: "grad_" });
  return toModel(b.graph);
}

/** The row-stochastic group-averaging matrix M (M[i, j] = 1/|g| when samples i and j share group g). */
export function groupMeanMatrix(groups: readonly (number | string)[]): Float32Array {
  const n = groups.length;
  const m = new Float32Array(n * n);
  for (let i = 0; i < n; i++) {
    const members = groups.map((g, j) => (g === groups[i] ? j : -1)).filter((j) => j >= 0);
    for (const j of members) m[i * n + j] = 1 / members.length;
  }
  return m;
}

/**
 * GIF's scorer bound to a model: one scoring session per latent size, built on first use from the model's VAE
 * decoder (float32, weights inline) and the scorer. Release with {@link GifScoringModel.release}.
 */
export class GifScoringModel {
  readonly model: DiffusionModel;
  readonly scorer: ClipScorer;
  readonly weights: GifObjectiveWeights;
  readonly #sessions = new Map<string, Promise<ort.InferenceSession>>();
  #decoder: Promise<ModelProto> | undefined;

  constructor(model: DiffusionModel, scorer: ClipScorer, weights: GifObjectiveWeights = {}) {
    if (scorer.classEmbeddings.length % scorer.numClasses !== 0) {
      throw new RangeError("classEmbeddings must hold numClasses rows");
    }
    this.model = model;
    this.scorer = scorer;
    this.weights = weights;
  }

  #session(height: number, width: number): Promise<ort.InferenceSession> {
    const key = `${height}×${width}`;
    let session = this.#sessions.get(key);
    if (!session) {
      const { model } = this;
      this.#decoder ??= readFile(model.vaeDecoder.component.modelPath).then((bytes) => decodeModel(bytes));
      session = this.#decoder.then((decoder) => {
        const f = model.config.vaeScaleFactor;
        const graph = buildGifScoringGraph(
          decoder,
          this.scorer,
          {
            channels: model.config.latentChannels,
            height,
            width,
            imageHeight: height * f,
            imageWidth: width * f,
          },
          model.config,
          this.weights,
        );
        return openSession(model.vaeDecoder.component.modelPath, model.settings, encodeModel(graph));
      });
      this.#sessions.set(key, session);
    }
    return session;
  }

  /** Scores latents [batch, C, h, w]; with `gradient`, also ∂(Σ objective)/∂latents. */
  async score(
    latents: Float32Array,
    dims: { batch: number; channels: number; height: number; width: number },
    targets: GifTargets,
    gradient: boolean,
  ): Promise<GifScores> {
    const session = await this.#session(dims.height, dims.width);
    const { batch } = dims;
    const K = this.scorer.numClasses;
    const target = new Float32Array(batch * K);
    targets.classes.forEach((c, i) => {
      if (!Number.isInteger(c) || c < 0 || c >= K)
        throw new RangeError(`class ${c} is not one of the scorer's ${K}`);
      target[i * K + c] = 1;
    });
    const tensor = (data: Float32Array, shape: number[]) => new ortRuntime.Tensor("float32", data, shape);
    const out = await session.run(
      {
        latents: tensor(latents, [batch, dims.channels, dims.height, dims.width]),
        target: tensor(target, [batch, K]),
        base_entropy: tensor(targets.baseEntropy, [batch]),
        group_mean: tensor(groupMeanMatrix(targets.groups), [batch, batch]),
      },
      gradient ? ["probs", "entropy", "objective", "grad_latents"] : ["probs", "entropy", "objective"],
    );
    const read = (name: string) => out[name]?.data as Float32Array | undefined;
    return {
      probs: read("probs") as Float32Array,
      entropy: read("entropy") as Float32Array,
      objective: read("objective") as Float32Array,
      gradient: gradient ? read("grad_latents") : undefined,
    };
  }

  /** Releases the scoring sessions. */
  async release(): Promise<void> {
    const sessions = await Promise.allSettled(this.#sessions.values());
    this.#sessions.clear();
    for (const s of sessions) if (s.status === "fulfilled") await s.value.release();
  }
}
