import type { OnnxComponent, Output } from "./component.js";
import { isFloatType, type TensorSpec } from "./io.js";

/** The shape of a batch of latents, NCHW. */
export interface LatentDims {
  readonly batch: number;
  readonly channels: number;
  readonly height: number;
  readonly width: number;
}

/**
 * The denoising UNet of a model folder: `sample` [batch, channels, h, w], `timestep`, `encoder_hidden_states`
 * [batch, sequence, hidden] → the model output (`out_sample`). The timestep is fed as the export declares it:
 * a scalar (rank 0), `[n]` for a fixed size n (the old diffusers export's `[1]`), or `[batch]` for a symbolic
 * size (Optimum's "steps"); as float32/float16, or int64/int32 truncated toward zero (numpy's `astype`, what
 * diffusers' ONNX pipelines do; only Euler's fractional timesteps are affected).
 */
export class Unet {
  readonly component: OnnxComponent;
  /** Channels the UNet's `sample` input takes: the latent channels, or twice them for InstructPix2Pix. */
  readonly inChannels: number;
  readonly #sample: TensorSpec;
  readonly #timestep: TensorSpec;
  readonly #context: TensorSpec;
  readonly #output: string;

  constructor(component: OnnxComponent, inChannels: number) {
    this.component = component;
    this.inChannels = inChannels;
    const need = (name: string) => {
      const spec = component.input(name);
      if (!spec) throw new Error(`${component.name} has no input ${name}`);
      return spec;
    };
    this.#sample = need("sample");
    this.#timestep = need("timestep");
    this.#context = need("encoder_hidden_states");
    const known = new Set([this.#sample, this.#timestep, this.#context]);
    const others = component.io.inputs.filter((s) => !known.has(s));
    if (others.length > 0) {
      throw new Error(`${component.name}: unsupported extra inputs ${others.map((s) => s.name).join(", ")}`);
    }
    if (this.#timestep.shape.length > 1) throw new Error(`${component.name}: timestep must have rank 0 or 1`);
    this.#output = (component.output("out_sample") ?? component.io.outputs[0]).name;
    Object.freeze(this);
  }

  /** The model output for a batch of latents at one timestep. */
  async predict(
    sample: Float32Array,
    dims: LatentDims,
    timestep: number,
    context: Output,
  ): Promise<Float32Array> {
    const { batch, channels, height, width } = dims;
    if (channels !== this.inChannels) {
      throw new RangeError(`${this.component.name} takes ${this.inChannels} channels, got ${channels}`);
    }
    if (sample.length !== batch * channels * height * width)
      throw new RangeError("sample length and dims differ");
    if (context.dims[0] !== batch) {
      throw new RangeError(
        `encoder_hidden_states batch ${context.dims[0]} differs from sample batch ${batch}`,
      );
    }
    const out = await this.component.run(
      {
        [this.#sample.name]: { data: sample, dims: [batch, channels, height, width] },
        [this.#timestep.name]: this.#timestepFeed(timestep, batch),
        [this.#context.name]: context,
      },
      [this.#output],
    );
    return out[this.#output].data;
  }

  #timestepFeed(timestep: number, batch: number): { data: number[]; dims: number[] } {
    const value = isFloatType(this.#timestep.type) ? timestep : Math.trunc(timestep);
    if (this.#timestep.shape.length === 0) return { data: [value], dims: [] };
    const size = this.#timestep.shape[0];
    const n = typeof size === "number" ? size : batch;
    return { data: new Array<number>(n).fill(value), dims: [n] };
  }
}
