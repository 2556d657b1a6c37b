import { GraphBuilder } from "../../ml/graph/builder.js";
import type { Graph } from "../../ml/graph/ir.js";
import { DataType, f32, type Tensor } from "../../ml/onnx/index.js";
import { Rng } from "../../random/index.js";

/**
 * How a tiny model names its Linear weights, after the two ONNX export styles of torch:
 * - "anonymous": the TorchScript exporter folds W^T into an initializer named `onnx::MatMul_<n>` ([in, out]),
 *   and names the MatMul node after the module path (`/down_blocks.0/attentions.0/…/to_q/MatMul`);
 * - "named": the initializer keeps the module path (`…to_q.weight`, torch layout [out, in]) and a Transpose
 *   feeds it to MatMul (the dynamo exporter without constant folding).
 */
export type WeightNaming = "anonymous" | "named";

/** Where a tiny model put the weight of one Linear or Conv module (for hand-merging LoRA in tests). */
interface WeightInfo {
  readonly initializer: string;
  /** "in_out" = W^T ([in, out], MatMul B input); "out_in" = torch layout; "conv" = [out, in, kh, kw]. */
  readonly layout: "in_out" | "out_in" | "conv";
}

/** A built tiny component: its graph and where each module's weight lives. */
export interface TinyComponent {
  readonly graph: Graph;
  readonly weights: ReadonlyMap<string, WeightInfo>;
}

class Builder {
  readonly b: GraphBuilder;
  readonly rng: Rng;
  readonly naming: WeightNaming;
  readonly weights = new Map<string, WeightInfo>();
  #anonymous = 1000;

  constructor(name: string, seed: number, naming: WeightNaming) {
    this.b = new GraphBuilder({ name, seed });
    this.rng = new Rng(seed, 99);
    this.naming = naming;
  }

  normal(dims: number[], std: number): Tensor {
    const t = f32(dims);
    const data = t.data as Float32Array;
    for (let i = 0; i < data.length; i++) data[i] = std * this.rng.nextNormal();
    return t;
  }

  /** An initializer with an exact name (not scoped). */
  named(name: string, tensor: Tensor): string {
    this.b.graph.addInitializer(name, tensor, true);
    return name;
  }

  #nameLastNode(name: string): void {
    this.b.graph.nodes[this.b.graph.nodes.length - 1].name = name;
  }

  /** torch.nn.Linear at module `path`: y = x·Wᵀ + b. */
  linear(path: string, x: string, inDim: number, outDim: number, bias = true): string {
    const w = this.normal([outDim, inDim], 1 / Math.sqrt(inDim));
    let y: string;
    const nodePrefix = `/${path.replaceAll(".", "/")}`;
    if (this.naming === "anonymous") {
      const transposed = f32([inDim, outDim]);
      for (let o = 0; o < outDim; o++)
        for (let i = 0; i < inDim; i++)
          (transposed.data as Float32Array)[i * outDim + o] = (w.data as Float32Array)[o * inDim + i];
      const name = this.named(`onnx::MatMul_${this.#anonymous++}`, transposed);
      y = this.b.op("MatMul", [x, name]);
      this.#nameLastNode(`${nodePrefix}/MatMul`);
      this.weights.set(path, { initializer: name, layout: "in_out" });
    } else {
      const name = this.named(`${path}.weight`, w);
      const t = this.b.op("Transpose", [name], { perm: [1, 0] });
      this.#nameLastNode(`${nodePrefix}/Transpose`);
      y = this.b.op("MatMul", [x, t]);
      this.#nameLastNode(`${nodePrefix}/MatMul`);
      this.weights.set(path, { initializer: name, layout: "out_in" });
    }
    if (bias) {
      y = this.b.op("Add", [y, this.named(`${path}.bias`, this.normal([outDim], 0.02))]);
      this.#nameLastNode(`${nodePrefix}/Add`);
    }
    return y;
  }

  /** torch.nn.Conv2d at module `path` (weights always named, as both exporters do for convolutions). */
  conv(
    path: string,
    x: string,
    inCh: number,
    outCh: number,
    kernel: number,
    stride = 1,
    std?: number,
  ): string {
    const w = this.named(
      `${path}.weight`,
      this.normal([outCh, inCh, kernel, kernel], std ?? 1 / Math.sqrt(inCh * kernel * kernel)),
    );
    const bias = this.named(`${path}.bias`, this.normal([outCh], 0.02));
    const pad = (kernel - 1) >> 1;
    const y = this.b.op("Conv", [x, w, bias], {
      kernel_shape: [kernel, kernel],
      pads: [pad, pad, pad, pad],
      strides: [stride, stride],
    });
    this.#nameLastNode(`/${path.replaceAll(".", "/")}/Conv`);
    this.weights.set(path, { initializer: w, layout: "conv" });
    return y;
  }

  layerNorm(path: string, x: string, dim: number): string {
    const scale = this.named(`${path}.weight`, f32([dim], new Array(dim).fill(1)));
    const bias = this.named(`${path}.bias`, f32([dim]));
    return this.b.op("LayerNormalization", [x, scale, bias], { axis: -1, epsilon: 1e-5 });
  }

  silu(x: string): string {
    return this.b.op("Mul", [x, this.b.op("Sigmoid", [x])]);
  }

  /** CLIP's quick GELU, x·σ(1.702x). */
  quickGelu(x: string): string {
    return this.b.op("Mul", [x, this.b.op("Sigmoid", [this.b.op("Mul", [x, this.b.scalar(1.702)])])]);
  }

  /** Multi-head attention of q [B, Lq, C] over k, v [B, Lk, C]; optional additive mask [Lq, Lk]. */
  attention(q: string, k: string, v: string, dim: number, heads: number, mask?: string): string {
    const d = dim / heads;
    const split = (x: string) =>
      this.b.op("Transpose", [this.b.op("Reshape", [x, this.b.ints([0, 0, heads, d])])], {
        perm: [0, 2, 1, 3],
      });
    const kt = this.b.op("Transpose", [this.b.op("Reshape", [k, this.b.ints([0, 0, heads, d])])], {
      perm: [0, 2, 3, 1],
    });
    let scores = this.b.op("Mul", [this.b.op("MatMul", [split(q), kt]), this.b.scalar(1 / Math.sqrt(d))]);
    if (mask) scores = this.b.op("Add", [scores, mask]);
    const attn = this.b.op("MatMul", [this.b.op("Softmax", [scores], { axis: -1 }), split(v)]);
    return this.b.op("Reshape", [
      this.b.op("Transpose", [attn], { perm: [0, 2, 1, 3] }),
      this.b.ints([0, 0, dim]),
    ]);
  }

  result(): TinyComponent {
    return { graph: this.b.graph, weights: this.weights };
  }
}

/** Sizes of a tiny model. */
export interface TinySizes {
  readonly vocabSize: number;
  readonly sequenceLength: number;
  /** Text hidden size (cross-attention dim). */
  readonly hidden: number;
  readonly latentChannels: number;
  /** UNet input channels: latentChannels, or 2× for an InstructPix2Pix-style UNet. */
  readonly unetInChannels: number;
  /** UNet working channels. */
  readonly unetChannels: number;
  /** Number of stride-2 stages of the VAE (scale factor 2^k). */
  readonly vaeStages: number;
  readonly vaeChannels: number;
}

/**
 * A tiny CLIP text encoder: token + position embeddings, one pre-LN transformer layer (causal self-attention
 * with q/k/v/out projections, quick-GELU MLP), final LayerNorm. Outputs last_hidden_state and pooler_output
 * (the mean over tokens here).
 */
export function tinyTextEncoder(
  s: TinySizes,
  naming: WeightNaming,
  idsType: DataType,
  seed = 1,
): TinyComponent {
  const m = new Builder("text_encoder", seed, naming);
  const { b } = m;
  const D = s.hidden;
  const L = s.sequenceLength;
  const ids = b.input("input_ids", ["batch", L], idsType);
  const table = m.named("text_model.embeddings.token_embedding.weight", m.normal([s.vocabSize, D], 1));
  m.weights.set("text_model.embeddings.token_embedding", { initializer: table, layout: "out_in" });
  const pos = m.named("text_model.embeddings.position_embedding.weight", m.normal([L, D], 0.1));
  let h = b.op("Add", [b.op("Gather", [table, ids], { axis: 0 }), pos]);
  const mask = new Float32Array(L * L);
  for (let i = 0; i < L; i++) for (let j = i + 1; j < L; j++) mask[i * L + j] = -1e4;
  const maskName = b.floats([L, L], mask);
  const layer = "text_model.encoder.layers.0";
  const x = m.layerNorm(`${layer}.layer_norm1`, h, D);
  const q = m.linear(`${layer}.self_attn.q_proj`, x, D, D);
  const k = m.linear(`${layer}.self_attn.k_proj`, x, D, D);
  const v = m.linear(`${layer}.self_attn.v_proj`, x, D, D);
  h = b.op("Add", [h, m.linear(`${layer}.self_attn.out_proj`, m.attention(q, k, v, D, 2, maskName), D, D)]);
  const y = m.layerNorm(`${layer}.layer_norm2`, h, D);
  const mlp = m.linear(`${layer}.mlp.fc2`, m.quickGelu(m.linear(`${layer}.mlp.fc1`, y, D, 2 * D)), 2 * D, D);
  h = b.op("Add", [h, mlp]);
  const last = m.layerNorm("text_model.final_layer_norm", h, D);
  b.output(last, "last_hidden_state");
  b.output(b.op("ReduceMean", [last, b.ints([1])], { keepdims: 0 }), "pooler_output");
  return m.result();
}

/** How a tiny UNet declares its timestep input. */
export interface TimestepDecl {
  readonly type: DataType;
  /** [] scalar, [1] the old export's fixed size, ["steps"] symbolic. */
  readonly shape: (number | string)[];
}

/**
 * A tiny conditional UNet: sinusoidal timestep embedding through an MLP, conv_in, one spatial transformer
 * (proj_in conv, self-attention attn1, cross-attention attn2 over the text states, feed-forward, proj_out
 * conv) with a residual, conv_out, plus 0.9 × the noisy latent (so x̂₀ stays bounded). Module paths follow
 * diffusers (`down_blocks.0.attentions.0.…`).
 */
export function tinyUnet(
  s: TinySizes,
  naming: WeightNaming,
  timestep: TimestepDecl,
  seed = 2,
): TinyComponent {
  const m = new Builder("unet", seed, naming);
  const { b } = m;
  const C = s.unetChannels;
  const sample = b.input("sample", ["batch", s.unetInChannels, "height", "width"]);
  const t = b.input("timestep", timestep.shape, timestep.type);
  const context = b.input("encoder_hidden_states", ["batch", s.sequenceLength, s.hidden]);
  const half = C / 2;
  // Frequencies ≤ 0.01/step: a random network is then smooth in t, as a trained one is (DDIM inversion
  // assumes ε barely changes between neighbouring timesteps; SD's full-band features rely on training for it).
  const freqs = Array.from({ length: half }, (_, i) => 0.01 * Math.exp((-Math.log(10000) * i) / half));
  const tf = b.op("Reshape", [b.op("Cast", [t], { to: DataType.FLOAT }), b.ints([-1, 1])]);
  const arg = b.op("Mul", [tf, b.floats([1, half], freqs)]);
  const emb = b.op("Concat", [b.op("Cos", [arg]), b.op("Sin", [arg])], { axis: 1 });
  const temb = m.linear(
    "time_embedding.linear_2",
    m.silu(m.linear("time_embedding.linear_1", emb, C, C)),
    C,
    C,
  );
  let h = m.conv("conv_in", sample, s.unetInChannels, C, 3);
  h = m.silu(b.op("Add", [h, b.op("Reshape", [temb, b.ints([-1, C, 1, 1])])]));
  const block = "down_blocks.0.attentions.0";
  const residual = h;
  let x = m.conv(`${block}.proj_in`, h, C, C, 1);
  x = b.op("Reshape", [b.op("Transpose", [x], { perm: [0, 2, 3, 1] }), b.ints([0, -1, C])]);
  const tb = `${block}.transformer_blocks.0`;
  const attn = (name: string, input: string, ctx: string | undefined, ctxDim: number) => {
    const q = m.linear(`${tb}.${name}.to_q`, input, C, C, false);
    const k = m.linear(`${tb}.${name}.to_k`, ctx ?? input, ctxDim, C, false);
    const v = m.linear(`${tb}.${name}.to_v`, ctx ?? input, ctxDim, C, false);
    return m.linear(`${tb}.${name}.to_out.0`, m.attention(q, k, v, C, 2), C, C);
  };
  x = b.op("Add", [x, attn("attn1", m.layerNorm(`${tb}.norm1`, x, C), undefined, C)]);
  x = b.op("Add", [x, attn("attn2", m.layerNorm(`${tb}.norm2`, x, C), context, s.hidden)]);
  const ff = m.linear(
    `${tb}.ff.net.2`,
    m.quickGelu(m.linear(`${tb}.ff.net.0.proj`, m.layerNorm(`${tb}.norm3`, x, C), C, 2 * C)),
    2 * C,
    C,
  );
  x = b.op("Add", [x, ff]);
  x = b.op("Reshape", [b.op("Transpose", [x], { perm: [0, 2, 1] }), b.op("Shape", [residual])]);
  h = b.op("Add", [m.conv(`${block}.proj_out`, x, C, C, 1), residual]);
  // ε ≈ 0.9·x_t + a learned-looking term: a random network whose predictions keep latents at a sane scale
  // (a pure random ε makes x̂₀ = (x_t − σε)/α explode at high noise and saturates every image).
  const noisy = b.op("Slice", [sample, b.ints([0]), b.ints([s.latentChannels]), b.ints([1])]);
  const learned = b.op("Mul", [m.conv("conv_out", m.silu(h), C, s.latentChannels, 3), b.scalar(0.3)]);
  b.output(b.op("Add", [b.op("Mul", [noisy, b.scalar(0.9)]), learned]), "out_sample");
  return m.result();
}

/**
 * A tiny VAE encoder: conv_in, k stride-2 convs with SiLU, quant_conv to mean ‖ logvar (logvar biased to about
 * −4). "parameters" outputs `latent_parameters` (Optimum); "in-graph-sample" outputs `latent_sample` =
 * mean + exp(logvar/2)·RandomNormalLike(mean) (the old diffusers export).
 */
export function tinyVaeEncoder(
  s: TinySizes,
  output: "parameters" | "in-graph-sample",
  seed = 3,
): TinyComponent {
  const m = new Builder("vae_encoder", seed, "named");
  const { b } = m;
  const C = s.vaeChannels;
  let x = m.conv("encoder.conv_in", b.input("sample", ["batch", 3, "height", "width"]), 3, C, 3);
  for (let i = 0; i < s.vaeStages; i++)
    x = m.silu(m.conv(`encoder.down_blocks.${i}.downsamplers.0.conv`, x, C, C, 3, 2));
  // Mean ×10 (latents of order 1 after scaling, as SD's), logvar near −4 (std ≈ e⁻²).
  const L = s.latentChannels;
  const moments = b.op("Add", [
    b.op("Mul", [
      m.conv("quant_conv", x, C, 2 * L, 1, 1, 0.3),
      b.floats(
        [2 * L, 1, 1],
        Array.from({ length: 2 * L }, (_, i) => (i < L ? 10 : 1)),
      ),
    ]),
    b.floats(
      [2 * L, 1, 1],
      Array.from({ length: 2 * L }, (_, i) => (i < L ? 0 : -4)),
    ),
  ]);
  if (output === "parameters") {
    b.output(moments, "latent_parameters");
  } else {
    const [mean, logvar] = b.opN(
      "Split",
      [moments, b.ints([s.latentChannels, s.latentChannels])],
      { axis: 1 },
      2,
    );
    const std = b.op("Exp", [
      b.op("Mul", [b.op("Clip", [logvar, b.scalar(-30), b.scalar(20)]), b.scalar(0.5)]),
    ]);
    const noise = b.op("RandomNormalLike", [mean], { mean: 0, scale: 1 });
    b.op("Add", [mean, b.op("Mul", [std, noise])], {}, { outputs: ["latent_sample"] });
    b.graph.addOutput({
      name: "latent_sample",
      dtype: DataType.FLOAT,
      shape: ["batch", s.latentChannels, "h", "w"],
    });
  }
  return m.result();
}

/** A tiny VAE decoder: post_quant_conv, conv_in, k nearest ×2 upsamplings each followed by a conv, conv_out. */
export function tinyVaeDecoder(s: TinySizes, seed = 4): TinyComponent {
  const m = new Builder("vae_decoder", seed, "named");
  const { b } = m;
  const C = s.vaeChannels;
  const z = b.input("latent_sample", ["batch", s.latentChannels, "height", "width"]);
  let x = m.conv(
    "decoder.conv_in",
    m.conv("post_quant_conv", z, s.latentChannels, s.latentChannels, 1),
    s.latentChannels,
    C,
    3,
  );
  for (let i = 0; i < s.vaeStages; i++) {
    x = b.op("Resize", [x, "", b.floats([4], [1, 1, 2, 2])], { mode: "nearest" });
    x = m.silu(m.conv(`decoder.up_blocks.${i}.upsamplers.0.conv`, x, C, C, 3));
  }
  b.output(m.conv("decoder.conv_out", x, C, 3, 3, 1, 0.05), "sample");
  return m.result();
}

/**
 * A tiny CLIP-style image encoder for GIF's scorer: a stride-2 conv, SiLU, global average pooling and a
 * projection to `embedDim` (`pixel_values` [batch, 3, size, size] → `image_embeds` [batch, embedDim]).
 */
export function tinyImageEncoder(size: number, embedDim: number, seed = 5): TinyComponent {
  const m = new Builder("image_encoder", seed, "named");
  const { b } = m;
  const x = m.silu(
    m.conv(
      "vision_model.embeddings.patch_embedding",
      b.input("pixel_values", ["batch", 3, size, size]),
      3,
      16,
      3,
      2,
    ),
  );
  const pooled = b.op("Flatten", [b.op("GlobalAveragePool", [x])], { axis: 1 });
  b.output(m.linear("visual_projection", pooled, 16, embedDim, false), "image_embeds");
  return m.result();
}
