/**
 * Diffusion model folders in the diffusers / Optimum ONNX layout: loading, component wrappers that read
 * input names and dtypes from the sessions, float16 conversion.
 */
export { type Feed, OnnxComponent, type Output, openComponent } from "./component.js";
export {
  type ConfigSources,
  type DiffusionModelConfig,
  readComponentConfig,
  readJsonObject,
  resolveModelConfig,
  SD15_MODEL_DEFAULTS,
} from "./config.js";
export { float16ToFloat32, float32ToFloat16, fromFloat16Bits, toFloat16Bits } from "./float16.js";
export { importGraph } from "./graph-import.js";
export {
  type ComponentIo,
  castForInput,
  type ElementType,
  type FeedData,
  ioFromModel,
  ioFromSession,
  isFloatType,
  outputAsFloat32,
  type TensorSpec,
} from "./io.js";
export {
  COMPONENT_DIRS,
  componentModelPath,
  type DiffusionComponents,
  DiffusionModel,
  type LoadDiffusionModelOptions,
  loadDiffusionModel,
} from "./model.js";
export { componentSessionOptions, openSession, type SessionSettings } from "./session.js";
export { ClipTextEncoder } from "./text-encoder.js";
export { type LatentDims, Unet } from "./unet.js";
export {
  type LatentMode,
  seedVaeEncoderNoise,
  VAE_NOISE_INPUT,
  VaeDecoder,
  VaeEncoder,
  type VaeEncoderKind,
} from "./vae.js";
