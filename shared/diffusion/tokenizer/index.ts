/** The CLIP BPE tokenizer of Stable Diffusion, with whole-word added tokens for textual inversion. */
export { BytePairEncoder, END_OF_WORD, parseMerges } from "./bpe.js";
export { BYTE_DECODER, BYTE_ENCODER, fromByteLevel, toByteLevel } from "./byte-level.js";
export {
  type AddedTokens,
  type BatchEncoding,
  CLIP_PRETOKENIZE_PATTERN,
  ClipTokenizer,
  type ClipTokenizerOptions,
  type EncodeOptions,
  type Encoding,
} from "./clip-tokenizer.js";
export { knownWordIds } from "./known-words.js";
export { loadClipTokenizer, tokenizerOptionsFromConfig } from "./load.js";
