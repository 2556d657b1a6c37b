/**
 * The classifier of diffda: a GroupNorm ResNet trained with the ML engine on real (+ synthetic) images
 * under a utilization strategy, its evaluation (top-1, per-class accuracy, confusion matrix) and export.
 */
export { AUGMENT_PRESETS, type AugmentPreset, type AugmentSpec, augmentSpec } from "./augment.js";
export {
  CHECKPOINT_FILE,
  checkpointPath,
  type EpochRecord,
  loadCheckpoint,
  saveCheckpoint,
  type TrainProgress,
} from "./checkpoint.js";
export {
  classifierLogits,
  type EvaluateOptions,
  type Evaluation,
  evaluateClassifier,
  forwardModel,
} from "./evaluate.js";
export {
  CLASSIFIER_FORMAT,
  decodeClassifier,
  encodeClassifier,
  exportClassifier,
  loadClassifier,
} from "./export.js";
export { type Classifier, checkParameters } from "./model.js";
export {
  epochImages,
  RECIPE,
  type RecipeRequest,
  resolveRecipe,
  sizedBatchSize,
  stepsPerEpoch,
} from "./recipe.js";
export {
  type ProgressEvent,
  type TrainClassifierOptions,
  type TrainResult,
  trainClassifier,
} from "./train.js";
