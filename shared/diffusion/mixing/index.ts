/** Image-space mixing of DiffuseMix: half-and-half concatenation with a blended seam, fractal blending. */
export {
  type ConcatOrientation,
  fractalBlend,
  halfConcat,
  halfConcatMask,
  randomOrientation,
} from "./diffusemix.js";
export type { ChwImage } from "./image.js";
