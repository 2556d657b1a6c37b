/**
 * Diffusion with diffusers semantics: schedulers, the CLIP tokenizer, latent math of the generation methods,
 * DiffuseMix image mixing, per-sample noise keys, ONNX model folders, the generation pipelines and adapters.
 */
export * from "./adapters/index.js";
export * from "./latents/index.js";
export * from "./mixing/index.js";
export * from "./models/index.js";
export {
  derivedSeed,
  type NoiseInput,
  NoisePurpose,
  type SampleKey,
  sampleRng,
  stepNoise,
} from "./noise.js";
export * from "./pipelines/index.js";
export * from "./schedulers/index.js";
export * from "./tokenizer/index.js";
