/**
 * Datasets, few-shot tasks, image codecs and augmentation for diffda: everything between image bytes and
 * the float batches a classifier trains on. Every random choice is seeded (shared/random).
 */
export {
  BUILTIN_DATASETS,
  type BuiltinDatasetName,
  buildBuiltinDataset,
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
export { drawText, GLYPH_HEIGHT, GLYPH_WIDTH, textWidth } from "./font.js";
export { type ImageShape, type Padding, padChw, padImageSet, resizeChw, resizeImageSet } from "./geometry.js";
export { type GridOptions, renderGrid } from "./grid.js";
export {
  DEFAULT_FOLDER_LIMITS,
  decodeImageFolder,
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
export { decodePng, encodeImageSetPng, encodePng } from "./png.js";
