import type { DataType, ModelProto, NodeProto, TensorProto } from "../../ml/onnx/index.js";
import { bytesOf, DataType as DT } from "../../ml/onnx/index.js";
import { NoisePurpose, type SampleKey, sampleRng } from "../noise.js";
import type { OnnxComponent } from "./component.js";
import { float32ToFloat16 } from "./float16.js";
import type { TensorSpec } from "./io.js";

/** Name of the input that replaces in-graph sampling noise in a rewritten VAE encoder (see {@link seedVaeEncoderNoise}). */
export const VAE_NOISE_INPUT = "diffda_vae_noise";

const RANDOM_NORMAL = new Set(["RandomNormal", "RandomNormalLike"]);

function scalarTensor(name: string, dtype: DataType, value: number): TensorProto {
  const data = dtype === DT.FLOAT16 ? float32ToFloat16([value]) : Float32Array.of(value);
  return { name, dataType: dtype, dims: [], rawData: bytesOf(data) };
}

/**
 * The old diffusers export (`convert_stable_diffusion_checkpoint_to_onnx.py`) traces
 * `latent_dist.sample()` into the VAE encoder: a `RandomNormal(Like)` node draws unseeded noise inside the
 * graph. This rewrites such a model in memory so the noise becomes a graph input ({@link VAE_NOISE_INPUT},
 * the shape of `latent_sample`), fed with seeded per-sample noise (or zeros for the distribution's mean).
 * The node's `mean`/`scale` attributes are kept as an explicit `noise·scale + mean`. Returns undefined when
 * the graph draws no noise; throws when it draws it more than once.
 */
export function seedVaeEncoderNoise(model: ModelProto): ModelProto | undefined {
  const random = model.graph.node.filter(
    (n) => RANDOM_NORMAL.has(n.opType) && (n.domain === "" || n.domain === "ai.onnx"),
  );
  if (random.length === 0) return undefined;
  if (random.length > 1)
    throw new Error(`the VAE encoder draws noise in ${random.length} places; only one is supported`);
  const node = random[0];
  const sample = model.graph.input.find((v) => v.name === "sample") ?? model.graph.input[0];
  const dtype = (sample?.type?.tensorType?.elemType ?? DT.FLOAT) as DataType;
  const attr = (name: string, fallback: number) => node.attribute.find((a) => a.name === name)?.f ?? fallback;
  const mean = attr("mean", 0);
  const scale = attr("scale", 1);
  const replacement: NodeProto[] = [];
  const initializers: TensorProto[] = [];
  const output = node.output[0];
  if (mean === 0 && scale === 1) {
    replacement.push({
      input: [VAE_NOISE_INPUT],
      output: [output],
      name: `${node.name}/seeded`,
      opType: "Identity",
      domain: "",
      attribute: [],
    });
  } else {
    const scaled = `${output}/diffda_scaled`;
    initializers.push(
      scalarTensor(`${output}/diffda_scale`, dtype, scale),
      scalarTensor(`${output}/diffda_mean`, dtype, mean),
    );
    replacement.push(
      {
        input: [VAE_NOISE_INPUT, `${output}/diffda_scale`],
        output: [scaled],
        name: `${node.name}/seeded_scale`,
        opType: "Mul",
        domain: "",
        attribute: [],
      },
      {
        input: [scaled, `${output}/diffda_mean`],
        output: [output],
        name: `${node.name}/seeded_mean`,
        opType: "Add",
        domain: "",
        attribute: [],
      },
    );
  }
  const nodes = model.graph.node.flatMap((n) => (n === node ? replacement : [n]));
  return {
    ...model,
    graph: {
      ...model.graph,
      node: nodes,
      initializer: [...model.graph.initializer, ...initializers],
      input: [
        ...model.graph.input,
        {
          name: VAE_NOISE_INPUT,
          type: {
            tensorType: {
              elemType: dtype,
              shape: {
                dim: [
                  { dimParam: "noise_batch" },
                  { dimParam: "noise_channels" },
                  { dimParam: "noise_height" },
                  { dimParam: "noise_width" },
                ],
              },
            },
          },
        },
      ],
    },
  };
}

/** How the VAE encoder's latent distribution is turned into latents. */
export type LatentMode =
  /** The distribution's mean (diffusers' `argmax` / `mode()`), deterministic. */
  | { readonly kind: "mean" }
  /** A sample, with each image's noise drawn from its own key (batch-invariant). */
  | { readonly kind: "sample"; readonly keys: readonly SampleKey[] };

/** What the VAE encoder of a folder outputs. */
export type VaeEncoderKind =
  /** Optimum: `latent_parameters` = mean ‖ logvar on the channel axis; sampled here. */
  | "parameters"
  /** Old diffusers export: `latent_sample` with in-graph noise, rewritten to a noise input. */
  | "seeded-sample"
  /** A `latent_sample` output without noise (an export of the mean). */
  | "deterministic";

/**
 * The VAE encoder: images in [−1, 1], NCHW → unscaled latents [batch, latentChannels, h/f, w/f] (the caller
 * applies `scaling_factor`). Handles both export conventions (see {@link VaeEncoderKind}).
 */
export class VaeEncoder {
  readonly component: OnnxComponent;
  readonly kind: VaeEncoderKind;
  readonly latentChannels: number;
  readonly scaleFactor: number;
  readonly #sample: TensorSpec;
  readonly #output: string;

  constructor(component: OnnxComponent, latentChannels: number, scaleFactor: number) {
    this.component = component;
    this.latentChannels = latentChannels;
    this.scaleFactor = scaleFactor;
    const sample = component.input("sample") ?? component.io.inputs.find((s) => s.name !== VAE_NOISE_INPUT);
    if (!sample) throw new Error(`${component.name} has no image input`);
    this.#sample = sample;
    const parameters = component.output("latent_parameters");
    const output = parameters ?? component.output("latent_sample") ?? component.io.outputs[0];
    this.#output = output.name;
    const channels = output.shape[1];
    if (parameters || channels === 2 * latentChannels) this.kind = "parameters";
    else this.kind = component.input(VAE_NOISE_INPUT) ? "seeded-sample" : "deterministic";
    Object.freeze(this);
  }

  /** Image channels the encoder takes (from its input shape; 3 when symbolic). */
  get imageChannels(): number {
    const c = this.#sample.shape[1];
    return typeof c === "number" ? c : 3;
  }

  /** Unscaled latents of `images` (NCHW in [−1, 1]). */
  async encode(
    images: Float32Array,
    dims: { batch: number; height: number; width: number },
    mode: LatentMode,
  ): Promise<Float32Array> {
    const { batch, height, width } = dims;
    const channels = this.imageChannels;
    if (images.length !== batch * channels * height * width)
      throw new RangeError("image length and dims differ");
    if (height % this.scaleFactor !== 0 || width % this.scaleFactor !== 0) {
      throw new RangeError(
        `image size ${height}×${width} is not a multiple of the VAE factor ${this.scaleFactor}`,
      );
    }
    if (mode.kind === "sample" && mode.keys.length !== batch)
      throw new RangeError("one noise key per image is needed");
    const latentSize = this.latentChannels * (height / this.scaleFactor) * (width / this.scaleFactor);
    const noise = () => {
      const out = new Float32Array(batch * latentSize);
      if (mode.kind === "sample") {
        mode.keys.forEach((key, i) => {
          sampleRng(key, NoisePurpose.vaeSample).fillNormal(
            out.subarray(i * latentSize, (i + 1) * latentSize),
          );
        });
      }
      return out;
    };
    const feeds: Record<string, { data: Float32Array; dims: number[] }> = {
      [this.#sample.name]: { data: images, dims: [batch, channels, height, width] },
    };
    if (this.kind === "seeded-sample") {
      feeds[VAE_NOISE_INPUT] = {
        data: noise(),
        dims: [batch, this.latentChannels, height / this.scaleFactor, width / this.scaleFactor],
      };
    }
    const out = (await this.component.run(feeds, [this.#output]))[this.#output].data;
    if (this.kind !== "parameters") return out;
    if (out.length !== 2 * batch * latentSize) {
      throw new RangeError(
        `${this.component.name}: latent_parameters hold ${out.length} values, expected ${2 * batch * latentSize}`,
      );
    }
    const eps = noise();
    const latents = new Float32Array(batch * latentSize);
    for (let b = 0; b < batch; b++) {
      const mean = out.subarray(2 * b * latentSize, (2 * b + 1) * latentSize);
      const logvar = out.subarray((2 * b + 1) * latentSize, (2 * b + 2) * latentSize);
      const target = latents.subarray(b * latentSize, (b + 1) * latentSize);
      if (mode.kind === "mean") target.set(mean);
      else {
        const e = eps.subarray(b * latentSize, (b + 1) * latentSize);
        for (let i = 0; i < latentSize; i++) {
          // diffusers' DiagonalGaussianDistribution: logvar clamped to [−30, 20], std = exp(logvar / 2).
          const std = Math.exp(0.5 * Math.min(20, Math.max(-30, logvar[i])));
          target[i] = mean[i] + std * e[i];
        }
      }
    }
    return latents;
  }
}

/** The VAE decoder: unscaled latents → images NCHW, roughly in [−1, 1]. */
export class VaeDecoder {
  readonly component: OnnxComponent;
  readonly #input: TensorSpec;
  readonly #output: string;

  constructor(component: OnnxComponent) {
    this.component = component;
    const input = component.input("latent_sample") ?? component.io.inputs[0];
    if (component.io.inputs.length !== 1) throw new Error(`${component.name} must have exactly one input`);
    this.#input = input;
    this.#output = (component.output("sample") ?? component.io.outputs[0]).name;
    Object.freeze(this);
  }

  /** Decoded images and their dims [batch, channels, H, W]. */
  async decode(
    latents: Float32Array,
    dims: { batch: number; channels: number; height: number; width: number },
  ): Promise<{ data: Float32Array; dims: readonly number[] }> {
    const out = await this.component.run(
      { [this.#input.name]: { data: latents, dims: [dims.batch, dims.channels, dims.height, dims.width] } },
      [this.#output],
    );
    return out[this.#output];
  }
}
