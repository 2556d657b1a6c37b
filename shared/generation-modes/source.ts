import type { ChwImage } from "../diffusion/index.js";
import { RpcError } from "../rpc/index.js";
import type { RunSample } from "./runtime.js";

/** The planned source image of a sample (every image-to-image mode plans one). */
export function sourceImage(sample: RunSample): ChwImage {
  if (!sample.image) throw new RpcError("internal", `sample ${sample.index} has no source image`);
  return sample.image;
}

/** The request fields every pipeline's sample takes. */
export function sampleBase(s: RunSample) {
  return { seed: s.seed, index: s.index, prompt: s.prompt, negativePrompt: s.negativePrompt };
}
