/**
 * Diffusion building blocks with diffusers semantics: schedulers, the CLIP tokenizer, latent math of the
 * generation methods, DiffuseMix image mixing and per-sample noise keys.
 */
export * from "./latents/index.js";
export * from "./mixing/index.js";
export {
  derivedSeed,
  type NoiseInput,
  NoisePurpose,
  type SampleKey,
  sampleRng,
  stepNoise,
} from "./noise.js";
export * from "./schedulers/index.js";
export * from "./tokenizer/index.js";
