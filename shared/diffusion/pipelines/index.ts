/**
 * Generation pipelines: each composes a loaded model's components with a scheduler plan (diffusers style);
 * a method is a small difference from text-to-image.
 */
export {
  concatRows,
  encodeGuidedPrompts,
  encodePrompts,
  type GuidedConditioning,
  rows,
} from "./conditioning.js";
export { type DenoiseRun, denoise, type Predictor } from "./denoise.js";
export {
  batchToImages,
  decodeLatents,
  encodeImages,
  type ImageSize,
  imagesToBatch,
  toPng,
} from "./images.js";
export {
  DEFAULT_STRENGTH,
  drawTargetClass,
  type Img2ImgOptions,
  type Img2ImgRequest,
  type InterClassRequest,
  img2img,
  interClassImg2Img,
} from "./img2img.js";
export {
  concatChannels,
  guidedPredictor,
  instructPix2PixPredictor,
  repeatBatch,
  twoStagePredictor,
} from "./predictors.js";
export { batchNoise, SAMPLING_DEFAULTS, type SamplingOptions, samplingPlan } from "./sampling.js";
export {
  latentSize,
  type TextToImageOptions,
  type TextToImageRequest,
  textToImage,
} from "./text-to-image.js";
export {
  type GeneratedImage,
  keyOf,
  type Label,
  type RunOptions,
  type SampleRequest,
  type StepProgress,
} from "./types.js";
