/** Seeded, counter-based randomness shared by data loading, augmentation and diffusion noise. */
export { philox4x32 } from "./philox.js";
export { MAX_SEED, Rng, sampleNoise } from "./rng.js";
