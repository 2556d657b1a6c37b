/**
 * The bundled model kit's data side: the corpus (recoloured fashion-mnist + mnist with templated captions),
 * the held-out ("novel concept") classes the rest of diffda imports, the tokenizer builder and the
 * procedural instruction edits. Training scripts and artifacts live in models/ (see models/README.md).
 */
export {
  allCaptions,
  buildCorpus,
  CORPUS_SEED,
  captionsFor,
  classPrompt,
  drawCaption,
  HELD_OUT_CLASSES,
  HELD_OUT_WORDS,
  KIT_CLASSES,
  KIT_COLORS,
  KIT_IMAGE_SIZE,
  KIT_MAX_LENGTH,
  type KitClass,
  type KitCorpus,
  zeroShotPrompt,
} from "./corpus.js";
export { allInstructions, applyEdit, KIT_EDITS, type KitEdit } from "./edits.js";
export { builtinPromptNames } from "./prompt-names.js";
export { buildKitTokenizer, type KitTokenizerFiles, kitTokenizer } from "./tokenizer.js";

/** Folder of the bundled text-to-image model (diffusers ONNX layout), relative to the repository root. */
export const KIT_MODEL_DIR = "models/diffda-kit-v1";
/** Folder of the bundled InstructPix2Pix-style edit model. */
export const KIT_EDIT_MODEL_DIR = "models/diffda-kit-v1-edit";
/** Folder of the kit's CLIP-style image–text model (text_model.onnx, vision_model.onnx, config.json). */
export const KIT_CLIP_DIR = "models/diffda-kit-v1/clip";
