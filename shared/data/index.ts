/**
 * Datasets, few-shot tasks, image codecs and augmentation for diffda: everything between image bytes and
 * the float batches a classifier trains on. Every random choice is seeded (shared/random).
 */

export {
  type AugmentOptions,
  augmentImage,
  cropPadded,
  DEFAULT_AUGMENT,
  DEFAULT_CROP_PADDING,
  flipHorizontal,
  type PadMode,
  validateAugment,
} from "./augment.js";
export {
  type Batch,
  type BatchOptions,
  batchCount,
  batches,
  epochOrder,
  type MixMode,
  type MixOptions,
} from "./batches.js";
export { sampleBeta, sampleGamma } from "./beta.js";
export {
  BUILTIN_DATASETS,
  type BuiltinDatasetName,
  buildBuiltinDataset,
  builtinClassNames,
  builtinSource,
  DATASET_CACHE_ENV,
  datasetCacheDir,
  FASHION_MNIST_SPLIT_SEED,
  FASHION_MNIST_TEST_PER_CLASS,
  type LoadBuiltinOptions,
  loadBuiltinDataset,
  MNIST_SPLIT_SEED,
  MNIST_TEST_FRACTION,
  RECIPE_VERSION,
  TEXTURES_SPLIT_SEED,
  TEXTURES_TEST_PER_CLASS,
} from "./builtin.js";
export { type ByteDataset, SPLIT_TEST, SPLIT_TRAIN, splitIndices, toImageSet } from "./byte-dataset.js";
export { toChannels, toGrayscale, toRgb } from "./color.js";
export { decodeDatasetCache, encodeDatasetCache } from "./dataset-cache.js";
export {
  chwToHwc,
  DEFAULT_IMAGE_LIMITS,
  type DecodedImage,
  type DecodeOptions,
  decodeImage,
  type Fit,
  hwcToChw,
  IMAGE_FORMATS,
  type ImageFormat,
  type ImageHeader,
  type ImageLimits,
  inspectImage,
  sniffFormat,
} from "./decode.js";
export { type DedupeResult, dedupe, perClassSplit, type RawEntry, type TestCount } from "./dedupe-split.js";
export { DATA_ERROR_CODES, DataError, type DataErrorCode, isDataError } from "./errors.js";
export {
  type FewShotIndices,
  type FewShotOptions,
  type FewShotTask,
  fewShotIndices,
  makeFewShotTask,
  type SplitImageSet,
  TEST_SUBSET_SEED,
} from "./few-shot.js";
export { detectFolderLayout, type FolderLayout, SPLIT_FOLDERS } from "./folder-layout.js";
export { drawText, GLYPH_HEIGHT, GLYPH_WIDTH, textWidth } from "./font.js";
export { type ImageShape, type Padding, padChw, padImageSet, resizeChw, resizeImageSet } from "./geometry.js";
export { type GridOptions, renderGrid } from "./grid.js";
export { digestOfDigests, imageDigests } from "./image-digests.js";
export {
  DEFAULT_FOLDER_LIMITS,
  decodeImageFolder,
  type EntryPath,
  type FolderEntry,
  type FolderLimits,
  type ImageFolder,
  type ImageFolderOptions,
  parseEntryName,
} from "./image-folder.js";
export { listImageFolder, readImageFolder } from "./image-folder-dir.js";
export {
  classCounts,
  concat,
  createImageSet,
  type ImageSet,
  type ImageSetInit,
  imageAt,
  imageCount,
  imageSize,
  indicesByClass,
  subset,
  withImages,
} from "./image-set.js";
export { type Box, cutmixBatch, cutmixBox, mixupBatch } from "./mix.js";
export { decodePng, encodeImageSetPng, encodePng } from "./png.js";
export {
  contrastingColours,
  generateTextures,
  MIN_LUMA_GAP,
  renderTexture,
  TEXTURE_CLASSES,
  TEXTURES_CHANNELS,
  TEXTURES_MAX_SIZE,
  TEXTURES_MIN_SIZE,
  TEXTURES_PER_CLASS,
  TEXTURES_SEED,
  TEXTURES_SIZE,
  TEXTURES_VERSION,
  type TextureOptions,
  type TextureSet,
} from "./procedural.js";
export { imageSetSource, type SampleSource } from "./sample-source.js";
export { epochStream, MAX_EPOCH, STREAM_PURPOSES } from "./streams.js";
export { DEFAULT_SOFT_LABEL_GAMMA, smoothTargets, writeInterClassTarget, writeOneHot } from "./targets.js";
export {
  loadTintedDigits,
  renderTintedDigits,
  TINTED_DIGITS_GENERATOR,
  TINTED_DIGITS_SEED,
  TINTED_DIGITS_SIZE,
  TINTED_DIGITS_VERSION,
  TINTED_DIGITS_VIEWS,
  type TintedDigitSet,
  type TintedDigitsOptions,
} from "./tinted-digits.js";
export {
  type EpochPlan,
  FROM_REAL,
  FROM_SYNTHETIC,
  type UtilizationOptions,
  type UtilizationStrategy,
  utilizationEpoch,
  variantsBySource,
} from "./utilization.js";
export { type ValidationSplit, validationSplit } from "./validation-split.js";
