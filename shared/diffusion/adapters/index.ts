/**
 * Adapters merged into ONNX initializers in memory: LoRA (PEFT / diffusers / kohya keys) and textual
 * inversion (diffusers `learned_embeds`, A1111 `emb_params`).
 */
export {
  type AdapterSet,
  adapterFingerprint,
  loadLoraFile,
  loadTextualInversionFile,
  tokenEmbedding,
  withAdapters,
} from "./apply.js";
export {
  type AdapterMismatch,
  type ComponentWeights,
  loraMismatch,
  readComponentWeights,
  textualInversionMismatch,
} from "./check.js";
export {
  addDelta,
  flattenIndex,
  type LoraAdapter,
  loraDelta,
  mergeLoraWeights,
  resolveModule,
} from "./lora.js";
export {
  type LoraComponent,
  type LoraLayer,
  type LoraModuleName,
  type ParseLoraOptions,
  parseLora,
  parseLoraKey,
} from "./lora-keys.js";
export {
  floatInitializer,
  indexModuleWeights,
  moduleFromInitializerName,
  moduleFromNodeName,
  readFloatInitializer,
  replaceInitializers,
  type WeightLayout,
  type WeightRef,
} from "./onnx-weights.js";
export {
  addConceptRows,
  conceptTokens,
  expandConceptTokens,
  parseTextualInversion,
  type TextualInversion,
} from "./textual-inversion.js";
