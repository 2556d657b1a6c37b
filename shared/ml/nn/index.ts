/** Layers for building models on the graph builder; parameters named hierarchically, seeded init. */
export { gelu, relu, silu } from "./activation.js";
export {
  type AttentionOptions,
  attention,
  type TransformerBlockOptions,
  transformerBlock,
} from "./attention.js";
export {
  type ResBlockOptions,
  resBlock,
  type SpatialTransformerOptions,
  spatialTransformer,
  timestepEmbedding,
  timestepFeatures,
} from "./blocks.js";
export { type Conv2dOptions, conv2d, downsample, upsample } from "./conv.js";
export { kaimingNormal, normal, ones, uniform, xavierUniform, zeros } from "./init.js";
export { embedding, type LinearOptions, linear } from "./linear.js";
export { addLora, type LoraAdapter, type LoraOptions } from "./lora.js";
export { type CrossEntropyOptions, mse, softmaxCrossEntropy } from "./loss.js";
export { type GroupNormOptions, groupNorm, layerNorm } from "./norm.js";
export { avgPool2d, globalAvgPool, maxPool2d } from "./pool.js";
