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
  DIFF_II_DEFAULTS,
  type DiffIIImage,
  type DiffIIOptions,
  type DiffIIRequest,
  diffII,
  drawSuffixes,
} from "./diff-ii.js";
export {
  DIFFUSEMIX_DEFAULTS,
  DIFFUSEMIX_PROMPTS,
  type DiffuseMixMixing,
  diffuseMix,
  diffuseMixImage,
  drawDiffuseMixPrompt,
} from "./diffusemix.js";
export {
  drawGifPrompt,
  GIF_ADJECTIVES,
  GIF_DEFAULTS,
  GIF_DOMAINS,
  type GifImage,
  type GifOptions,
  type GifRequest,
  gif,
} from "./gif.js";
export {
  buildGifScoringGraph,
  CLIP_MEAN,
  CLIP_STD,
  type ClipScorer,
  type GifObjectiveWeights,
  type GifScores,
  GifScoringModel,
  type GifTargets,
  groupMeanMatrix,
  loadClipScorer,
  resizeMatrix,
} from "./gif-scorer.js";
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
  type Img2ImgLatents,
  type Img2ImgOptions,
  type Img2ImgRequest,
  type InterClassRequest,
  img2img,
  img2imgLatents,
  img2imgResult,
  interClassImg2Img,
} from "./img2img.js";
export {
  INSTRUCT_PIX2PIX_DEFAULTS,
  type InstructPix2PixOptions,
  type InstructPix2PixRequest,
  instructPix2Pix,
} from "./instruct-pix2pix.js";
export {
  DIFF_II_INVERSION_STEPS,
  type InversionCache,
  type InversionOptions,
  type InversionRequest,
  type InvertedLatent,
  inversionKey,
  invertImages,
  MemoryInversionCache,
} from "./inversion.js";
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
