import type { GraphBuilder } from "../graph/builder.js";
import { embedding, layerNorm, normal, transformerBlock } from "../nn/index.js";
import type { Tensor } from "../onnx/tensor.js";
import { DataType } from "../onnx/types.js";

/** A small CLIP-style text transformer. */
export interface TextEncoderConfig {
  vocabSize: number;
  /** Token sequence length (position embeddings). */
  maxLength: number;
  width: number;
  layers: number;
  heads: number;
  /** Id of the end-of-text token: the pooled output is the hidden state at its first occurrence. */
  eosTokenId: number;
  ffMult?: number;
}

/** Names of a text encoder's outputs. */
export interface TextEncoderOutputs {
  /** [batch, maxLength, width] after the final LayerNorm (what a UNet cross-attends to). */
  lastHiddenState: string;
  /** [batch, width]: the hidden state at the first end-of-text token (CLIP's pooling). */
  pooled: string;
}

/**
 * Token + position embeddings, pre-norm transformer blocks (bidirectional: padding is the end-of-text token,
 * as in CLIP, so padded positions are deterministic), final LayerNorm, and EOS pooling. Parameters live under
 * `text_model.` (`embeddings.token_embedding.weight`, `encoder.layers.N.attn1.to_q.weight`, …,
 * `final_layer_norm`), the token table being what textual inversion extends.
 */
export function textEncoder(b: GraphBuilder, ids: string, c: TextEncoderConfig): TextEncoderOutputs {
  return b.scope("text_model", () => {
    const tok = b.scope("embeddings", () => embedding(b, "token_embedding", ids, c.vocabSize, c.width));
    const pos = b.scope("embeddings", () =>
      b.scope("position_embedding", () =>
        b.param("weight", normal(b.rng, b.dtype, [c.maxLength, c.width], 0.01)),
      ),
    );
    let h = b.op("Add", [tok, pos]);
    b.scope("encoder", () =>
      b.scope("layers", () => {
        for (let i = 0; i < c.layers; i++) {
          h = transformerBlock(b, String(i), h, undefined, {
            dim: c.width,
            heads: c.heads,
            ffMult: c.ffMult,
          });
        }
      }),
    );
    const last = layerNorm(b, "final_layer_norm", h, c.width);
    // Weight 1 at the first end-of-text position: eos(t) · (1 − eos(t−1)).
    const isEos = b.op("Cast", [b.op("Equal", [ids, b.constant(eosConstant(c.eosTokenId))])], {
      to: b.dtype,
    });
    const head = b.op("Slice", [isEos, b.ints([0]), b.ints([c.maxLength - 1]), b.ints([1])]);
    const zero = b.op("Mul", [b.op("Slice", [isEos, b.ints([0]), b.ints([1]), b.ints([1])]), b.scalar(0)]);
    const prev = b.op("Concat", [zero, head], { axis: 1 });
    const first = b.op("Mul", [isEos, b.op("Sub", [b.scalar(1), prev])]);
    const pooled = b.op("Squeeze", [
      b.op("MatMul", [b.op("Unsqueeze", [first, b.ints([1])]), last]),
      b.ints([1]),
    ]);
    return { lastHiddenState: last, pooled };
  });
}

function eosConstant(id: number): Tensor {
  return { dtype: DataType.INT32, dims: [], data: Int32Array.of(id) };
}
