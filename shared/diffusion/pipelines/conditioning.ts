import type { DiffusionModel, Output } from "../models/index.js";

/** Text-encoder hidden states for `prompts`, one row per prompt, in one text-encoder run. */
export async function encodePrompts(model: DiffusionModel, prompts: readonly string[]): Promise<Output> {
  const encoding = model.tokenizer.encodeBatch(prompts.map((p) => model.preparePrompt(p)));
  return model.textEncoder.encode(encoding.inputIds, encoding.batchSize, encoding.sequenceLength);
}

/** The rows [start, end) of a batch-major tensor. */
export function rows(tensor: Output, start: number, end: number): Output {
  const size = tensor.data.length / tensor.dims[0];
  return {
    data: tensor.data.subarray(start * size, end * size),
    dims: [end - start, ...tensor.dims.slice(1)],
  };
}

/** Batch-major concatenation of tensors with equal trailing dims. */
export function concatRows(...tensors: Output[]): Output {
  const data = new Float32Array(tensors.reduce((n, t) => n + t.data.length, 0));
  let at = 0;
  for (const t of tensors) {
    data.set(t.data, at);
    at += t.data.length;
  }
  return { data, dims: [tensors.reduce((n, t) => n + t.dims[0], 0), ...tensors[0].dims.slice(1)] };
}

/**
 * Text conditioning of a batch for classifier-free guidance: hidden states for `[negative ×B; prompt ×B]`
 * (diffusers' order, the unconditional half first) when `guidanceScale > 1`, else for the prompts alone (diffusers
 * skips the unconditional pass then). Negative prompts default to "".
 */
export interface GuidedConditioning {
  readonly states: Output;
  readonly guidanceScale: number;
  /** True when `states` holds the unconditional half. */
  readonly guided: boolean;
}

/** Encodes prompts (and negative prompts) for classifier-free guidance in one text-encoder run. */
export async function encodeGuidedPrompts(
  model: DiffusionModel,
  prompts: readonly string[],
  negativePrompts: readonly (string | undefined)[],
  guidanceScale: number,
): Promise<GuidedConditioning> {
  if (!(guidanceScale >= 0)) throw new RangeError(`guidance scale must be ≥ 0, got ${guidanceScale}`);
  const guided = guidanceScale > 1;
  const texts = guided ? [...prompts.map((_, i) => negativePrompts[i] ?? ""), ...prompts] : [...prompts];
  return { states: await encodePrompts(model, texts), guidanceScale, guided };
}
